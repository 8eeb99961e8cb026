#include "policy/policy_values.h"

#include <fmt/format.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <memory>

#include "fleet/nats_settings.h"
#include "policy/policy.h"
#include "query/literals.h"

namespace pw::policy {
namespace {

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

bool all_name_chars(std::string_view text) {
    return std::all_of(text.begin(), text.end(), is_name_char);
}

std::string single_quoted(std::string_view text) { return fmt::format("'{}'", text); }

}  // namespace

std::string describe_type(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::table: return "table";
        case toml::node_type::array: return "array";
        case toml::node_type::string: return "string";
        case toml::node_type::integer: return "integer";
        case toml::node_type::floating_point: return "floating-point number";
        case toml::node_type::boolean: return "boolean";
        case toml::node_type::date: return "date";
        case toml::node_type::time: return "time";
        case toml::node_type::date_time: return "date-time";
        default: return "value";
    }
}

void ValueReader::fail(const std::string& problem) const {
    throw PolicyError(source_, static_cast<int>(node_.source().begin.line), key_, problem);
}

bool ValueReader::boolean() const {
    if (const auto* value = node_.as_boolean()) return value->get();
    fail(fmt::format("expected true or false, found a {}", describe_type(node_)));
}

int64_t ValueReader::integer(int64_t min, int64_t max) const {
    const auto* value = node_.as_integer();
    if (value == nullptr) fail(fmt::format("expected an integer, found a {}", describe_type(node_)));
    if (value->get() < min || value->get() > max) {
        fail(fmt::format("{} is out of range; use an integer from {} to {}", value->get(), min,
                         max));
    }
    return value->get();
}

std::string ValueReader::string() const {
    if (const auto* value = node_.as_string()) return value->get();
    fail(fmt::format("expected a string, found a {}", describe_type(node_)));
}

std::vector<ValueReader> ValueReader::elements() const {
    const toml::array* array = node_.as_array();
    if (array == nullptr) {
        fail(fmt::format("expected an array such as [\"a\", \"b\"], found a {}",
                         describe_type(node_)));
    }
    std::vector<ValueReader> elements;
    for (const toml::node& element : *array) elements.emplace_back(element, source_, key_);
    return elements;
}

std::string ValueReader::shown_value() const {
    if (const auto* text = node_.as_string()) return single_quoted(text->get());
    if (const auto* number = node_.as_integer()) return std::to_string(number->get());
    return fmt::format("(a {})", describe_type(node_));
}

uint64_t ValueReader::size_bytes(uint64_t min, uint64_t max) const {
    std::optional<uint64_t> bytes;
    if (const auto* value = node_.as_integer(); value != nullptr && value->get() >= 0) {
        bytes = static_cast<uint64_t>(value->get());
    } else if (const auto* text = node_.as_string()) {
        bytes = query::parse_size(text->get());
    }
    if (!bytes) {
        fail(
            fmt::format("invalid size {}; use a count of bytes or a string with a suffix: "
                        "\"500MB\", \"1GiB\" (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)",
                        shown_value()));
    }
    if (*bytes < min || *bytes > max) {
        fail(fmt::format("{} bytes is out of range; use a size from {} to {} bytes", *bytes, min,
                         max));
    }
    return *bytes;
}

int64_t ValueReader::duration_ms(int64_t min, int64_t max) const {
    std::optional<int64_t> ms;
    if (const auto* value = node_.as_integer();
        value != nullptr && value->get() >= 0 && value->get() <= INT64_MAX / 1000) {
        ms = value->get() * 1000;
    } else if (const auto* text = node_.as_string()) {
        ms = query::parse_duration(text->get());
    }
    if (!ms || *ms < 0) {
        fail(
            fmt::format("invalid duration {}; use a count of seconds or a string with units: "
                        "\"90s\", \"30m\", \"12h\", \"30d\", \"2w\" (0 for none)",
                        shown_value()));
    }
    if (*ms < min || *ms > max) {
        fail(fmt::format("{} ms is out of range; use a duration from {} to {} ms", *ms, min,
                         max));
    }
    return *ms;
}

ProtocolId ValueReader::protocol() const {
    std::string text;
    if (const auto* id = node_.as_integer()) {
        text = std::to_string(id->get());
    } else if (const auto* name = node_.as_string()) {
        text = name->get();
    } else {
        fail(fmt::format("expected a protocol name or id, found a {}", describe_type(node_)));
    }
    std::optional<ProtocolId> id = parse_protocol(text);
    if (!id || find_protocol(*id) == nullptr) {
        fail(fmt::format("unknown protocol {}; use a name or id that `protowatch protocols` "
                         "lists",
                         single_quoted(text)));
    }
    return *id;
}

std::string ValueReader::absolute_path() const {
    std::string path = string();
    if (path.empty() || path[0] != '/') {
        fail(fmt::format("path {} is not absolute; give the full path from /", single_quoted(path)));
    }
    if (path.find('\0') != std::string::npos) fail("the path contains a NUL character");
    return path;
}

std::string ValueReader::interface_name() const {
    std::string name = string();
    // The kernel's rule for a device name (dev_valid_name in net/core/dev.c): 1 to 15 bytes,
    // not "." or "..", without '/', ':' or white space.
    bool valid = !name.empty() && name.size() <= 15 && name != "." && name != ".." &&
                 std::none_of(name.begin(), name.end(), [](char c) {
                     return c == '/' || c == ':' || c == '\0' ||
                            std::isspace(static_cast<unsigned char>(c));
                 });
    if (!valid) {
        fail(fmt::format("invalid interface name {}; use a name that `ip link` lists, such as "
                         "\"eth0\"",
                         single_quoted(name)));
    }
    return name;
}

std::string ValueReader::group_name() const {
    std::string name = string();
    // The portable user and group name set of POSIX, at most 32 bytes as useradd allows.
    bool valid = !name.empty() && name.size() <= 32 && name[0] != '-' &&
                 std::all_of(name.begin(), name.end(),
                             [](char c) { return is_name_char(c) || c == '.'; });
    if (!valid) {
        fail(fmt::format("invalid group name {}; use letters, digits, '.', '_' and '-' (at "
                         "most 32, not starting with '-')",
                         single_quoted(name)));
    }
    return name;
}

std::string ValueReader::bpf_filter() const {
    std::string filter = string();
    if (filter.empty()) return filter;
    // Ethernet is the link type of nearly every capture interface; an expression that only
    // another link type accepts is rare enough to be checked when the capture opens.
    std::unique_ptr<pcap_t, decltype(&pcap_close)> dead(pcap_open_dead(DLT_EN10MB, 262144),
                                                        pcap_close);
    bpf_program program{};
    if (dead == nullptr) fail("failed to set up libpcap to check the filter");
    if (pcap_compile(dead.get(), &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        fail(fmt::format("invalid BPF filter {}: {}; see pcap-filter(7)", single_quoted(filter),
                         pcap_geterr(dead.get())));
    }
    pcap_freecode(&program);
    return filter;
}

std::string ValueReader::nats_url() const {
    std::string url = string();
    // Messages show the URL with its password as "***", as every fleet message does.
    const std::string redacted = single_quoted(fleet::redact_url(url));
    size_t scheme_end = url.find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
    if (scheme != "nats" && scheme != "tls") {
        fail(fmt::format("invalid server URL {}; use nats://HOST:PORT or tls://HOST:PORT",
                         redacted));
    }
    std::string authority = url.substr(scheme_end + 3);
    if (authority.find('@') != std::string::npos) {
        fail(fmt::format("server URL {} contains credentials; put them in creds_file or "
                         "nkey_seed_file instead",
                         redacted));
    }
    if (authority.empty() || authority[0] == ':' || authority[0] == '/') {
        fail(fmt::format("server URL {} has no host; use nats://HOST:PORT", redacted));
    }
    // The checks of --nats-server, so that a policy takes no URL that the command line rejects.
    try {
        fleet::check_server_url(url);
    } catch (const std::invalid_argument& error) {
        fail(error.what());
    }
    return url;
}

std::string ValueReader::stream_name() const {
    std::string name = string();
    // JetStream rejects '.', '*', '>', path separators and white space in stream names; this
    // keeps to the characters that are safe everywhere.
    if (name.empty() || name.size() > 255 || !all_name_chars(name)) {
        fail(fmt::format("invalid stream name {}; use 1 to 255 letters, digits, '_' and '-'",
                         single_quoted(name)));
    }
    return name;
}

std::string ValueReader::subject_prefix() const {
    std::string prefix = string();
    bool valid = !prefix.empty() && prefix.front() != '.' && prefix.back() != '.' &&
                 prefix.find("..") == std::string::npos &&
                 std::all_of(prefix.begin(), prefix.end(),
                             [](char c) { return is_name_char(c) || c == '.'; });
    if (!valid) {
        fail(fmt::format("invalid subject prefix {}; use tokens of letters, digits, '_' and '-' "
                         "joined by '.', without wildcards (\"protowatch.events\")",
                         single_quoted(prefix)));
    }
    return prefix;
}

}  // namespace pw::policy
