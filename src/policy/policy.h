#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "detect/protocols.h"
#include "events/audit_event.h"
#include "fleet/nats_defaults.h"
#include "store/retention.h"

namespace pw::policy {

// The fleet settings of the [nats] table. The policy only parses and validates them; the
// NATS publisher reads them.
struct NatsSettings {
    // nats:// or tls:// URLs; empty means events are not published.
    std::vector<std::string> servers;
    std::string creds_file;      // absolute path, or empty
    std::string nkey_seed_file;  // absolute path, or empty; exclusive with creds_file
    std::string tls_ca;          // absolute paths, or empty; tls_cert and tls_key go together
    std::string tls_cert;
    std::string tls_key;
    std::string stream = fleet::kDefaultStream;
    std::string subject_prefix = fleet::kDefaultSubjectPrefix;
    int replicas = fleet::kDefaultReplicas;  // JetStream allows 1 to 5
    // How long the stream keeps a message; 0: no limit.
    int64_t max_age_ms = fleet::kDefaultMaxAgeMs;

    bool operator==(const NatsSettings&) const = default;
};

// Every protocol of the table, in table order: the list when a policy names none.
std::vector<ProtocolId> default_protocols();

// What the agent records and how; every field has the default that applies when its key is
// absent from the policy file. docs/policy.md lists the keys.
struct Policy {
    // [recording]
    bool recording_enabled = true;
    // Statistics events are recorded for these protocols only, in the order given.
    std::vector<ProtocolId> protocols = default_protocols();
    // Statistics events of connections whose protocol was not identified are recorded too.
    bool record_unidentified = true;
    int64_t statistics_interval_ms = 60'000;  // 0: statistics only when a connection ends

    // [store]
    std::string store_path = "/var/lib/protowatch/events.db";
    uint64_t store_max_bytes = 1'000'000'000;          // 0: no limit
    int64_t store_max_age_ms = 30LL * 24 * 3600 * 1000;  // 0: no limit

    // [capture]
    std::vector<std::string> interfaces;  // empty: every interface
    uint64_t capture_buffer_bytes = 32ULL * 1024 * 1024;
    std::string bpf_filter;  // empty: every packet

    // [flows]
    // Bytes that tracked flows, IP fragments and TCP reassembly buffers may hold together,
    // over every capture thread; 0: no bound.
    uint64_t max_memory_bytes = 256ULL * 1024 * 1024;

    // [access]
    std::string admin_group = "protowatch-admin";
    std::string reader_group = "protowatch-reader";

    NatsSettings nats;

    store::RetentionPolicy retention() const { return {store_max_bytes, store_max_age_ms}; }

    bool operator==(const Policy&) const = default;
};

// An invalid policy. The message names the source, the line, the key and what to do; line is
// 0 when the error is not tied to a line (an unreadable file, say).
class PolicyError : public std::runtime_error {
  public:
    PolicyError(std::string source, int line, std::string key, const std::string& problem);

    const std::string& source() const { return source_; }
    int line() const { return line_; }
    const std::string& key() const { return key_; }

  private:
    std::string source_;
    int line_;
    std::string key_;
};

// Parses a TOML policy; `source_name` names it in errors (a file path, say). Unknown tables
// and keys are errors. Throws PolicyError.
Policy parse_policy(std::string_view text, std::string_view source_name);

// Reads and parses the policy file at `path`. Throws PolicyError, also when the file cannot be
// read.
Policy load_policy_file(const std::string& path);

// Formats a policy as TOML that parse_policy reads back into an equal policy, every key given.
std::string format_policy(const Policy& policy);

// One key whose value differs between two policies, both values in their TOML form.
using PolicyChange = events::AuditChange;

// The keys whose values differ from `before` to `after`, in the order of format_policy.
std::vector<PolicyChange> diff_policies(const Policy& before, const Policy& after);

}  // namespace pw::policy
