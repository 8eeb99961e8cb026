#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "fleet/nats_defaults.h"

namespace pw::fleet {

// How an agent reaches NATS and where its events go: the `[nats]` table of the policy and
// the --nats-* options. Paths are read when connecting; nothing here is ever logged whole,
// because a server URL may carry a user and password.
struct NatsSettings {
    // nats:// or tls:// URLs of the cluster's servers; empty means kDefaultServer.
    std::vector<std::string> servers;
    // A credentials file (user JWT and NKey seed) or a file holding an NKey seed; at most one.
    std::string creds_file;
    std::string nkey_seed_file;
    // PEM files: the CA that signed the servers' certificates, and the client's own
    // certificate and key for servers that require them (both or neither).
    std::string tls_ca;
    std::string tls_cert;
    std::string tls_key;
    // The JetStream stream that events are published into, created when missing.
    std::string stream = kDefaultStream;
    // The first subject token: events go to <prefix>.events.<device>.<kind>, search
    // requests to <prefix>.search.
    std::string subject_prefix = kDefaultSubjectPrefix;
    // Copies of each message the cluster keeps (1 to 5) when the stream is created.
    int replicas = kDefaultReplicas;
    // Age after which JetStream deletes a message; zero keeps messages without a limit.
    std::chrono::milliseconds max_age{kDefaultMaxAgeMs};
    // JetStream drops a message whose Nats-Msg-Id it stored within this window. Replays
    // after an outage longer than this window can be stored twice.
    std::chrono::milliseconds duplicate_window = std::chrono::minutes(2);
};

// Checks the settings before connecting. Throws std::invalid_argument naming the setting,
// its value (without any password) and what to do.
void validate(const NatsSettings& settings);

// Checks one server URL: the nats:// or tls:// scheme, a host, and a port from 1 to 65535 if
// one is given. Throws std::invalid_argument naming the URL (without its password).
void check_server_url(const std::string& url);

// The servers to connect to: `settings.servers`, or kDefaultServer when it is empty.
std::vector<std::string> server_urls(const NatsSettings& settings);

// True when the connection must use TLS: a server URL has the tls:// scheme, or a CA or a
// client certificate is set. nats.c alone would fall back to plain text for tls://.
bool requires_tls(const NatsSettings& settings);

// `url` with the password of its user part replaced by "***", for logs and messages.
std::string redact_url(const std::string& url);

}  // namespace pw::fleet
