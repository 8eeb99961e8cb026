#pragma once

#include <sys/types.h>

#include <optional>

namespace pw::daemon {

// A signal the agent reacts to, with its sender as the kernel reports it.
struct ReceivedSignal {
    int number = 0;  // SIGHUP, SIGTERM or SIGINT
    pid_t sender_pid = 0;
    uid_t sender_uid = 0;
};

// Receives SIGHUP, SIGTERM and SIGINT through a signalfd, so that the agent's loop handles
// them as events instead of in a signal handler. Construct it before starting threads: it
// blocks the three signals in the calling thread, and new threads inherit that mask.
class SignalWatcher {
  public:
    SignalWatcher();
    ~SignalWatcher();
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

    // A descriptor that polls readable while a signal is pending, for an existing poll loop.
    int fd() const { return fd_; }
    // Waits up to `timeout_ms` (-1: without limit) for a signal; nothing on timeout.
    std::optional<ReceivedSignal> wait(int timeout_ms);

  private:
    int fd_ = -1;
};

}  // namespace pw::daemon
