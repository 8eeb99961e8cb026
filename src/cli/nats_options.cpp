#include "cli/nats_options.h"

#include <stdexcept>

#include "query/literals.h"

namespace pw::cli {

void add_nats_options(CLI::App& command, NatsOptions& options) {
    fleet::NatsSettings& s = options.settings;
    command
        .add_option("--nats-server", s.servers,
                    std::string("NATS server URL (nats://HOST:PORT or tls://HOST:PORT), "
                                "repeatable or comma-separated (default: ") +
                        fleet::kDefaultServer + ")")
        ->delimiter(',')
        // One value per occurrence, so that a capture file after it is not taken as a server.
        ->allow_extra_args(false);
    command.add_option("--nats-creds", s.creds_file,
                       "NATS credentials file (user JWT and NKey seed)");
    command.add_option("--nats-nkey", s.nkey_seed_file,
                       "File with the user's NKey seed and public key, as `nk -gen user "
                       "-pubout` writes it");
    command.add_option("--nats-tls-ca", s.tls_ca, "PEM file of the CA that signed the servers");
    command.add_option("--nats-tls-cert", s.tls_cert,
                       "PEM client certificate (with --nats-tls-key)");
    command.add_option("--nats-tls-key", s.tls_key, "PEM private key of --nats-tls-cert");
    command.add_option("--nats-stream", s.stream, "JetStream stream of the events")
        ->capture_default_str();
    command
        .add_option("--nats-subject-prefix", s.subject_prefix,
                    "First token of every subject protowatch uses")
        ->capture_default_str();
    command
        .add_option("--nats-replicas", s.replicas,
                    "Replicas of the stream when protowatch creates it (1 to 5)")
        ->capture_default_str();
    command
        .add_option("--nats-max-age", options.max_age,
                    "Age after which JetStream deletes an event when protowatch creates the "
                    "stream (30d, 12h; 0 for no limit)")
        ->capture_default_str();
}

fleet::NatsSettings to_settings(const NatsOptions& options) {
    fleet::NatsSettings settings = options.settings;
    std::optional<int64_t> max_age = query::parse_duration(options.max_age);
    if (!max_age) {
        throw std::invalid_argument("--nats-max-age: invalid duration '" + options.max_age +
                                    "'; use a count and a unit: 12h, 30d, 2w, 0 for no limit");
    }
    settings.max_age = std::chrono::milliseconds(*max_age);
    fleet::validate(settings);
    return settings;
}

}  // namespace pw::cli
