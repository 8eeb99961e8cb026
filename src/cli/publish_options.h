#pragma once

#include <CLI/CLI.hpp>
#include <csignal>
#include <string>

#include "cli/nats_options.h"
#include "store/store_sink.h"

namespace pw::cli {

// Exit status when events stay unpublished because NATS did not acknowledge them in time.
inline constexpr int kExitUnpublished = 4;

// `analyze --publish` and its NATS options.
struct PublishOptions {
    bool enabled = false;
    double timeout_s = 30;
    NatsOptions nats;
};

// Adds --publish, --publish-timeout and the --nats-* options to `command`.
void add_publish_options(CLI::App& command, PublishOptions& options);

// Publishes every event of the store that JetStream has not acknowledged yet, waiting at most
// --publish-timeout. Returns 0 when all are acknowledged, else kExitUnpublished after logging
// how many remain; a nonzero `*stop` (set by SIGINT or SIGTERM) ends the wait early. `store`
// is nullptr under --no-store, a usage error. Throws std::invalid_argument for invalid NATS
// settings.
int publish_recorded(const PublishOptions& options, store::StoreSink* store,
                     const std::string& device, const volatile std::sig_atomic_t* stop);

}  // namespace pw::cli
