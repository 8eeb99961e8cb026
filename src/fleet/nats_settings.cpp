#include "fleet/nats_settings.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <stdexcept>
#include <string_view>

#include "fleet/subjects.h"

namespace pw::fleet {
namespace {

void require_readable(const std::string& setting, const std::string& path) {
    if (path.empty()) return;
    if (access(path.c_str(), R_OK) != 0) {
        throw std::invalid_argument(fmt::format(
            "{} '{}' is missing or unreadable; check the path and its permissions", setting, path));
    }
    // nats.c takes an empty file, a directory or a device as no credentials, or reads a
    // device without end.
    struct stat info {};
    if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_size == 0) {
        throw std::invalid_argument(fmt::format(
            "{} '{}' is not a regular file with content (empty, a directory or a device); "
            "pass the path of the file itself",
            setting, path));
    }
}

// Checks the port after the host, if any: 1 to 65535. nats.c would take a larger one
// modulo 65536 and connect elsewhere.
void check_port(const std::string& url, const std::string& host_port) {
    size_t colon = host_port.rfind(':');
    // An IPv6 address in brackets contains colons of its own.
    if (colon == std::string::npos || host_port.find(']', colon) != std::string::npos) return;
    std::string_view port = std::string_view(host_port).substr(colon + 1);
    unsigned number = 0;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), number);
    if (error != std::errc() || end != port.data() + port.size() || number == 0 || number > 65535) {
        throw std::invalid_argument(
            fmt::format("invalid NATS server URL '{}': port '{}' is not a number from 1 to 65535",
                        redact_url(url), port));
    }
}

}  // namespace

void check_server_url(const std::string& url) {
    size_t scheme_end = url.find("://");
    std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
    if (scheme != "nats" && scheme != "tls") {
        throw std::invalid_argument(fmt::format(
            "invalid NATS server URL '{}'; expected nats://HOST:PORT or tls://HOST:PORT",
            redact_url(url)));
    }
    std::string rest = url.substr(scheme_end + 3);
    size_t at = rest.rfind('@');
    if (at != std::string::npos) rest = rest.substr(at + 1);
    if (rest.empty() || rest.front() == ':' || rest.find_first_of(" /") != std::string::npos) {
        throw std::invalid_argument(
            fmt::format("invalid NATS server URL '{}': the host is missing or malformed; expected "
                        "nats://HOST:PORT",
                        redact_url(url)));
    }
    check_port(url, rest);
}

std::string redact_url(const std::string& url) {
    // nats.c takes several servers in one string, separated by commas.
    if (size_t comma = url.find(','); comma != std::string::npos) {
        return redact_url(url.substr(0, comma)) + "," + redact_url(url.substr(comma + 1));
    }
    size_t scheme_end = url.find("://");
    size_t start = scheme_end == std::string::npos ? 0 : scheme_end + 3;
    // The user part ends at the authority's last '@': a password may hold '@' too.
    size_t authority_end = url.find_first_of("/?#", start);
    size_t at =
        url.rfind('@', authority_end == std::string::npos ? std::string::npos : authority_end - 1);
    if (at == std::string::npos || at < start) return url;
    size_t colon = url.find(':', start);
    if (colon == std::string::npos || colon > at)
        return url.substr(0, start) + "***" + url.substr(at);
    return url.substr(0, colon + 1) + "***" + url.substr(at);
}

bool requires_tls(const NatsSettings& settings) {
    if (!settings.tls_ca.empty() || !settings.tls_cert.empty()) return true;
    for (const std::string& url : server_urls(settings)) {
        if (url.starts_with("tls://")) return true;
    }
    return false;
}

std::vector<std::string> server_urls(const NatsSettings& settings) {
    if (settings.servers.empty()) return {kDefaultServer};
    return settings.servers;
}

void validate(const NatsSettings& settings) {
    size_t tls_urls = 0;
    for (const std::string& url : server_urls(settings)) {
        check_server_url(url);
        if (url.starts_with("tls://")) ++tls_urls;
    }
    if (tls_urls > 0 && tls_urls < server_urls(settings).size()) {
        throw std::invalid_argument(
            "the NATS servers mix tls:// and nats:// URLs; a connection uses TLS with every "
            "server or with none, so give all of them the same scheme");
    }
    if (!settings.creds_file.empty() && !settings.nkey_seed_file.empty()) {
        throw std::invalid_argument(
            "creds_file and nkey_seed_file are both set; use one of them (a credentials file "
            "already contains its NKey seed)");
    }
    require_readable("creds_file", settings.creds_file);
    require_readable("nkey_seed_file", settings.nkey_seed_file);
    require_readable("tls_ca", settings.tls_ca);
    require_readable("tls_cert", settings.tls_cert);
    require_readable("tls_key", settings.tls_key);
    if (settings.tls_cert.empty() != settings.tls_key.empty()) {
        throw std::invalid_argument(
            "tls_cert and tls_key go together; set both for a client certificate, or neither");
    }
    if (!is_valid_stream_name(settings.stream)) {
        throw std::invalid_argument(fmt::format(
            "invalid stream name '{}'; use letters, digits, '-' and '_' only", settings.stream));
    }
    if (!is_valid_subject_prefix(settings.subject_prefix)) {
        throw std::invalid_argument(fmt::format(
            "invalid subject prefix '{}'; use dot-separated tokens without spaces or the "
            "wildcards '*' and '>'",
            settings.subject_prefix));
    }
    if (settings.replicas < 1 || settings.replicas > 5) {
        throw std::invalid_argument(fmt::format(
            "invalid replicas {}; JetStream keeps 1 to 5 copies of a stream", settings.replicas));
    }
    if (settings.max_age.count() < 0 || settings.duplicate_window.count() <= 0) {
        throw std::invalid_argument("max_age must be at least 0 and the duplicate window above 0");
    }
}

}  // namespace pw::fleet
