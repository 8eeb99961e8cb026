// Reads a TOML policy into a Policy, rejecting unknown keys and invalid values with the line
// and key at fault.

#include <fmt/format.h>
#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "policy/policy.h"
#include "policy/policy_values.h"
#include "store/retention.h"

namespace pw::policy {
namespace {

using KeyReader = std::function<void(const ValueReader&, Policy&)>;

struct KeySpec {
    std::string_view name;
    KeyReader read;
};

struct TableSpec {
    std::string_view name;
    std::vector<KeySpec> keys;
};

void read_protocols(const ValueReader& value, Policy& policy) {
    policy.protocols.clear();
    for (const ValueReader& element : value.elements()) {
        ProtocolId id = element.protocol();
        if (std::find(policy.protocols.begin(), policy.protocols.end(), id) ==
            policy.protocols.end()) {
            policy.protocols.push_back(id);
        }
    }
}

void read_interfaces(const ValueReader& value, Policy& policy) {
    policy.interfaces.clear();
    for (const ValueReader& element : value.elements()) {
        policy.interfaces.push_back(element.interface_name());
    }
}

void read_servers(const ValueReader& value, Policy& policy) {
    policy.nats.servers.clear();
    for (const ValueReader& element : value.elements()) {
        policy.nats.servers.push_back(element.nats_url());
    }
}

// The tables and keys of a policy file, in the order docs/policy.md lists them.
const std::vector<TableSpec>& table_specs() {
    static const std::vector<TableSpec> specs = {
        {"recording",
         {
             {"enabled", [](auto& v, Policy& p) { p.recording_enabled = v.boolean(); }},
             {"protocols", read_protocols},
             {"unidentified", [](auto& v, Policy& p) { p.record_unidentified = v.boolean(); }},
             {"statistics_interval",
              [](auto& v, Policy& p) {
                  p.statistics_interval_ms = v.duration_ms(0, kMaxStatisticsIntervalMs);
              }},
         }},
        {"store",
         {
             {"path", [](auto& v, Policy& p) { p.store_path = v.absolute_path(); }},
             {"max_size",
              [](auto& v, Policy& p) {
                  p.store_max_bytes = v.size_bytes(0);
                  if (p.store_max_bytes != 0 && p.store_max_bytes < store::kMinRetentionBytes) {
                      v.fail(
                          "a store size below 1MiB would have retention delete nearly every "
                          "event; use a size such as \"1GB\", or 0 for no limit");
                  }
              }},
             {"max_age",
              [](auto& v, Policy& p) {
                  p.store_max_age_ms = v.duration_ms(0, INT64_MAX);
                  if (p.store_max_age_ms != 0 && p.store_max_age_ms < store::kMinRetentionAgeMs) {
                      v.fail(
                          "a store age below 1m would have retention delete events soon after "
                          "they are stored; use an age such as \"30d\", or 0 for no limit");
                  }
              }},
         }},
        {"capture",
         {
             {"interfaces", read_interfaces},
             {"buffer_size",
              [](auto& v, Policy& p) {
                  p.capture_buffer_bytes = v.size_bytes(kMinCaptureBuffer, kMaxCaptureBuffer);
              }},
             {"bpf_filter", [](auto& v, Policy& p) { p.bpf_filter = v.bpf_filter(); }},
         }},
        {"flows",
         {
             {"max_memory",
              [](auto& v, Policy& p) {
                  p.max_memory_bytes = v.size_bytes(0);
                  if (p.max_memory_bytes != 0 && p.max_memory_bytes < kMinFlowMemory) {
                      v.fail(
                          "a memory bound below 1MiB leaves no room for a flow; use at "
                          "least 1MiB, such as \"256MiB\", or 0 for no bound");
                  }
              }},
         }},
        {"access",
         {
             {"admin_group", [](auto& v, Policy& p) { p.admin_group = v.group_name(); }},
             {"reader_group", [](auto& v, Policy& p) { p.reader_group = v.group_name(); }},
         }},
        {"nats",
         {
             {"servers", read_servers},
             {"creds_file", [](auto& v, Policy& p) { p.nats.creds_file = v.absolute_path(); }},
             {"nkey_seed_file",
              [](auto& v, Policy& p) { p.nats.nkey_seed_file = v.absolute_path(); }},
             {"tls_ca", [](auto& v, Policy& p) { p.nats.tls_ca = v.absolute_path(); }},
             {"tls_cert", [](auto& v, Policy& p) { p.nats.tls_cert = v.absolute_path(); }},
             {"tls_key", [](auto& v, Policy& p) { p.nats.tls_key = v.absolute_path(); }},
             {"stream", [](auto& v, Policy& p) { p.nats.stream = v.stream_name(); }},
             {"subject_prefix",
              [](auto& v, Policy& p) { p.nats.subject_prefix = v.subject_prefix(); }},
             {"replicas",
              [](auto& v, Policy& p) {
                  p.nats.replicas = static_cast<int>(v.integer(1, kMaxReplicas));
              }},
             {"max_age",
              [](auto& v, Policy& p) { p.nats.max_age_ms = v.duration_ms(0, INT64_MAX); }},
         }},
    };
    return specs;
}

std::string known_names(const std::vector<TableSpec>& tables) {
    std::string names;
    for (const TableSpec& table : tables) {
        names += (names.empty() ? "[" : ", [") + std::string(table.name) + "]";
    }
    return names;
}

std::string known_names(const TableSpec& table) {
    std::string names;
    for (const KeySpec& key : table.keys) {
        names += (names.empty() ? "" : ", ") + std::string(key.name);
    }
    return names;
}

// The key a TOML syntax error sits on, read from the start of its line ("name =" or
// "[table]"), because the parser's message does not name it.
std::string key_on_line(std::string_view text, int line) {
    std::istringstream lines{std::string(text)};
    std::string current;
    for (int i = 0; i < line && std::getline(lines, current); ++i) {
    }
    size_t begin = current.find_first_not_of(" \t");
    if (begin == std::string::npos) return {};
    if (current[begin] == '[') {
        size_t end = current.find(']', begin);
        return current.substr(begin, end == std::string::npos ? std::string::npos
                                                              : end - begin + 1);
    }
    size_t equals = current.find('=', begin);
    if (equals == std::string::npos) return {};
    std::string key = current.substr(begin, equals - begin);
    key.erase(key.find_last_not_of(" \t") + 1);
    return key;
}

toml::table parse_toml(std::string_view text, const std::string& source) {
    try {
        return toml::parse(text, source);
    } catch (const toml::parse_error& error) {
        int line = static_cast<int>(error.source().begin.line);
        std::string key = key_on_line(text, line);
        throw PolicyError(
            source, line, key,
            fmt::format("invalid TOML at column {}: {}; fix the syntax (see docs/policy.md "
                        "for the policy's format)",
                        error.source().begin.column, error.description()));
    }
}

// Checks the rules that tie two keys together, once every key is read.
void check_combinations(const toml::table& root, const std::string& source,
                        const Policy& policy) {
    const toml::table* nats = root["nats"].as_table();
    if (nats == nullptr) return;
    auto line_of = [&](std::string_view key) {
        const toml::node* node = nats->get(key);
        return node != nullptr ? static_cast<int>(node->source().begin.line) : 0;
    };
    if (!policy.nats.creds_file.empty() && !policy.nats.nkey_seed_file.empty()) {
        throw PolicyError(source, line_of("nkey_seed_file"), "nats.nkey_seed_file",
                          "both creds_file and nkey_seed_file are set; keep only one of them");
    }
    if (policy.nats.tls_cert.empty() != policy.nats.tls_key.empty()) {
        std::string_view given = policy.nats.tls_cert.empty() ? "tls_key" : "tls_cert";
        std::string_view missing = policy.nats.tls_cert.empty() ? "tls_cert" : "tls_key";
        throw PolicyError(source, line_of(given), fmt::format("nats.{}", given),
                          fmt::format("{} is set but {} is not; a client certificate needs "
                                      "both, so set {} too or remove {}",
                                      given, missing, missing, given));
    }
}

}  // namespace

PolicyError::PolicyError(std::string source, int line, std::string key,
                         const std::string& problem)
    : std::runtime_error(fmt::format("{}{}: {}{}", source,
                                     line > 0 ? fmt::format(":{}", line) : std::string(),
                                     key.empty() ? std::string() : "key '" + key + "': ",
                                     problem)),
      source_(std::move(source)),
      line_(line),
      key_(std::move(key)) {}

std::vector<ProtocolId> default_protocols() {
    std::vector<ProtocolId> ids;
    for (const ProtocolInfo& info : protocol_table()) ids.push_back(info.id);
    return ids;
}

Policy parse_policy(std::string_view text, std::string_view source_name) {
    std::string source(source_name);
    toml::table root = parse_toml(text, source);
    const std::vector<TableSpec>& tables = table_specs();

    Policy policy;
    for (auto&& [table_key, table_node] : root) {
        int line = static_cast<int>(table_key.source().begin.line);
        // Lambdas may not capture structured bindings before clang 16, so they use a copy.
        std::string_view table_name = table_key.str();
        auto table = std::find_if(tables.begin(), tables.end(), [&](const TableSpec& spec) {
            return spec.name == table_name;
        });
        if (table == tables.end()) {
            throw PolicyError(source, line, std::string(table_key.str()),
                              fmt::format("unknown key; a policy has only the tables {}",
                                          known_names(tables)));
        }
        const toml::table* values = table_node.as_table();
        if (values == nullptr) {
            throw PolicyError(source, line, std::string(table_key.str()),
                              fmt::format("expected the table [{}], found a {}; write the "
                                          "keys under a [{}] line",
                                          table->name, describe_type(table_node), table->name));
        }
        for (auto&& [key, node] : *values) {
            std::string full_key = fmt::format("{}.{}", table->name, key.str());
            std::string_view key_name = key.str();
            auto spec = std::find_if(table->keys.begin(), table->keys.end(),
                                     [&](const KeySpec& s) { return s.name == key_name; });
            if (spec == table->keys.end()) {
                throw PolicyError(source, static_cast<int>(key.source().begin.line), full_key,
                                  fmt::format("unknown key; [{}] has the keys {}", table->name,
                                              known_names(*table)));
            }
            spec->read(ValueReader(node, source, full_key), policy);
        }
    }
    check_combinations(root, source, policy);
    return policy;
}

Policy load_policy_file(const std::string& path) {
    // A directory opens as an empty stream, which would parse as the defaults.
    std::error_code error;
    auto type = std::filesystem::status(path, error).type();
    if (!error && type != std::filesystem::file_type::regular) {
        throw PolicyError(path, 0, "",
                          "the policy path is not a regular file; give the path of a TOML "
                          "policy file");
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw PolicyError(path, 0, "",
                          fmt::format("cannot read the policy file ({}); check the path and "
                                      "its permissions",
                                      std::strerror(errno)));
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_policy(text.str(), path);
}

}  // namespace pw::policy
