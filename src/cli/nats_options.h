#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "fleet/nats_settings.h"

namespace pw::cli {

// The --nats-* options as given; to_settings() checks and converts them.
struct NatsOptions {
    fleet::NatsSettings settings;
    std::string max_age = "30d";  // fleet::kDefaultMaxAgeMs, as the option writes it
};

// Adds --nats-server (repeatable or comma-separated), --nats-creds, --nats-nkey,
// --nats-tls-ca, --nats-tls-cert, --nats-tls-key, --nats-stream, --nats-subject-prefix,
// --nats-replicas and --nats-max-age to `command`.
void add_nats_options(CLI::App& command, NatsOptions& options);

// The settings the options describe. Throws std::invalid_argument naming the bad value.
fleet::NatsSettings to_settings(const NatsOptions& options);

}  // namespace pw::cli
