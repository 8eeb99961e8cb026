// Writes a policy back as TOML, and lists the keys that differ between two policies; both
// read the same list of entries so that `policy show` and the audit events agree.

#include <fmt/format.h>

#include <cstdint>
#include <nlohmann/json.hpp>

#include "policy/policy.h"

namespace pw::policy {
namespace {

struct Entry {
    std::string_view table;
    std::string_view key;
    std::string value;  // TOML
};

// A TOML basic string. JSON's string escapes (\", \\, \n, \uXXXX...) are a subset of
// TOML's, and nlohmann's dump never writes the one JSON escape TOML lacks (\/).
std::string toml_string(const std::string& text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string toml_strings(const std::vector<std::string>& texts) {
    std::string out = "[";
    for (const std::string& text : texts) out += (out.size() > 1 ? ", " : "") + toml_string(text);
    return out + "]";
}

std::string toml_protocols(const std::vector<ProtocolId>& ids) {
    std::string out = "[";
    for (ProtocolId id : ids) {
        out += (out.size() > 1 ? ", " : "") + toml_string(std::string(protocol_name(id)));
    }
    return out + "]";
}

// The largest unit that divides the size exactly, so that "1GB" stays "1GB".
std::string format_size(uint64_t bytes) {
    struct Unit {
        uint64_t factor;
        const char* suffix;
    };
    static constexpr Unit units[] = {{1ULL << 40, "TiB"}, {1'000'000'000'000ULL, "TB"},
                                     {1ULL << 30, "GiB"}, {1'000'000'000ULL, "GB"},
                                     {1ULL << 20, "MiB"}, {1'000'000ULL, "MB"},
                                     {1ULL << 10, "KiB"}, {1000ULL, "KB"}};
    if (bytes == 0) return "0";
    for (const Unit& unit : units) {
        if (bytes % unit.factor == 0)
            return toml_string(fmt::format("{}{}", bytes / unit.factor, unit.suffix));
    }
    // A TOML integer is at most INT64_MAX, so a larger count is written as a string of
    // digits, which the parser also reads as bytes.
    if (bytes > static_cast<uint64_t>(INT64_MAX)) return toml_string(std::to_string(bytes));
    return std::to_string(bytes);
}

std::string format_duration(int64_t ms) {
    struct Unit {
        int64_t factor;
        const char* suffix;
    };
    static constexpr Unit units[] = {{7LL * 86'400'000, "w"}, {86'400'000, "d"}, {3'600'000, "h"},
                                     {60'000, "m"},           {1000, "s"},       {1, "ms"}};
    if (ms == 0) return "0";
    for (const Unit& unit : units) {
        if (ms % unit.factor == 0)
            return toml_string(fmt::format("{}{}", ms / unit.factor, unit.suffix));
    }
    return toml_string(fmt::format("{}ms", ms));
}

std::vector<Entry> entries(const Policy& policy) {
    const NatsSettings& nats = policy.nats;
    return {
        {"recording", "enabled", policy.recording_enabled ? "true" : "false"},
        {"recording", "protocols", toml_protocols(policy.protocols)},
        {"recording", "unidentified", policy.record_unidentified ? "true" : "false"},
        {"recording", "statistics_interval", format_duration(policy.statistics_interval_ms)},
        {"store", "path", toml_string(policy.store_path)},
        {"store", "max_size", format_size(policy.store_max_bytes)},
        {"store", "max_age", format_duration(policy.store_max_age_ms)},
        {"capture", "interfaces", toml_strings(policy.interfaces)},
        {"capture", "buffer_size", format_size(policy.capture_buffer_bytes)},
        {"capture", "bpf_filter", toml_string(policy.bpf_filter)},
        {"flows", "max_memory", format_size(policy.max_memory_bytes)},
        {"access", "admin_group", toml_string(policy.admin_group)},
        {"access", "reader_group", toml_string(policy.reader_group)},
        {"nats", "servers", toml_strings(nats.servers)},
        {"nats", "creds_file", toml_string(nats.creds_file)},
        {"nats", "nkey_seed_file", toml_string(nats.nkey_seed_file)},
        {"nats", "tls_ca", toml_string(nats.tls_ca)},
        {"nats", "tls_cert", toml_string(nats.tls_cert)},
        {"nats", "tls_key", toml_string(nats.tls_key)},
        {"nats", "stream", toml_string(nats.stream)},
        {"nats", "subject_prefix", toml_string(nats.subject_prefix)},
        {"nats", "replicas", std::to_string(nats.replicas)},
        {"nats", "max_age", format_duration(nats.max_age_ms)},
    };
}

}  // namespace

std::string format_policy(const Policy& policy) {
    std::string out;
    std::string_view table;
    for (const Entry& entry : entries(policy)) {
        // The empty path strings of an unset [nats] key would not parse back as absolute
        // paths, so they are left out.
        if (entry.value == "\"\"" && entry.table == "nats") continue;
        if (entry.table != table) {
            out += fmt::format("{}[{}]\n", out.empty() ? "" : "\n", entry.table);
            table = entry.table;
        }
        out += fmt::format("{} = {}\n", entry.key, entry.value);
    }
    return out;
}

std::vector<PolicyChange> diff_policies(const Policy& before, const Policy& after) {
    std::vector<Entry> old_entries = entries(before);
    std::vector<Entry> new_entries = entries(after);
    std::vector<PolicyChange> changes;
    for (size_t i = 0; i < old_entries.size(); ++i) {
        if (old_entries[i].value == new_entries[i].value) continue;
        changes.push_back({fmt::format("{}.{}", old_entries[i].table, old_entries[i].key),
                           old_entries[i].value, new_entries[i].value});
    }
    return changes;
}

}  // namespace pw::policy
