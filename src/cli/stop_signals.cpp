#include "cli/stop_signals.h"

namespace pw::cli {

volatile std::sig_atomic_t stop_requested = 0;

namespace {

void request_stop(int) { stop_requested = 1; }

}  // namespace

void install_stop_handlers() {
    struct sigaction action {};
    action.sa_handler = request_stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    // A closed stdout (`| head`) becomes a write error the JSON sink reports, instead of
    // killing the process before the store has committed what it holds.
    signal(SIGPIPE, SIG_IGN);
}

}  // namespace pw::cli
