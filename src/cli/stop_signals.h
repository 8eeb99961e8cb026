#pragma once

#include <csignal>

namespace pw::cli {

// Set by SIGINT and SIGTERM once install_stop_handlers() ran: the command stops reading,
// ends every flow and writes it, so nothing already read is lost.
extern volatile std::sig_atomic_t stop_requested;

// Installs the SIGINT and SIGTERM handlers that set stop_requested, and ignores SIGPIPE.
void install_stop_handlers();

}  // namespace pw::cli
