#include "detect/http_message.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <functional>

#include "common/ascii.h"

namespace pw::detect::http {
namespace {

// The methods of the IANA HTTP Method Registry (without PRI, the HTTP/2 preface), and
// vendor methods seen on real networks: Exchange's WebDAV extensions, RPC over HTTP,
// cache purging and SCCM.
constexpr std::array<std::string_view, 53> kMethods = {"GET",
                                                       "HEAD",
                                                       "POST",
                                                       "PUT",
                                                       "DELETE",
                                                       "CONNECT",
                                                       "OPTIONS",
                                                       "TRACE",
                                                       "PATCH",
                                                       "QUERY",
                                                       "ACL",
                                                       "BASELINE-CONTROL",
                                                       "BIND",
                                                       "CHECKIN",
                                                       "CHECKOUT",
                                                       "COPY",
                                                       "LABEL",
                                                       "LINK",
                                                       "LOCK",
                                                       "MERGE",
                                                       "MKACTIVITY",
                                                       "MKCALENDAR",
                                                       "MKCOL",
                                                       "MKREDIRECTREF",
                                                       "MKWORKSPACE",
                                                       "MOVE",
                                                       "ORDERPATCH",
                                                       "PROPFIND",
                                                       "PROPPATCH",
                                                       "REBIND",
                                                       "REPORT",
                                                       "SEARCH",
                                                       "UNBIND",
                                                       "UNCHECKOUT",
                                                       "UNLINK",
                                                       "UNLOCK",
                                                       "UPDATE",
                                                       "UPDATEREDIRECTREF",
                                                       "VERSION-CONTROL",
                                                       "PURGE",
                                                       "BCOPY",
                                                       "BDELETE",
                                                       "BMOVE",
                                                       "BPROPFIND",
                                                       "BPROPPATCH",
                                                       "NOTIFY",
                                                       "POLL",
                                                       "SUBSCRIBE",
                                                       "UNSUBSCRIBE",
                                                       "X-MS-ENUMATTS",
                                                       "RPC_IN_DATA",
                                                       "RPC_OUT_DATA",
                                                       "CCM_POST"};
constexpr size_t kMaxMethodLength = 17;

bool is_known_method(std::string_view method) {
    return std::find(kMethods.begin(), kMethods.end(), method) != kMethods.end();
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Bytes a start line may hold: printable ASCII, tabs, and non-ASCII bytes in a target.
bool is_line_char(char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte == '\t' || (byte >= 0x20 && byte != 0x7f);
}

// Parses "HTTP/1.x" exactly, returning x.
std::optional<int> parse_version(std::string_view text) {
    if (text.size() != 8 || !text.starts_with("HTTP/1.") || !is_digit(text[7])) return std::nullopt;
    return text[7] - '0';
}

std::string_view trim(std::string_view text) {
    size_t start = text.find_first_not_of(" \t");
    if (start == std::string_view::npos) return {};
    size_t end = text.find_last_not_of(" \t");
    return text.substr(start, end - start + 1);
}

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return ascii_lower(c); });
    return out;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

// RFC 9110 section 5.6.2: tchar.
bool is_token_char(char c) {
    if (std::isalnum(static_cast<unsigned char>(c))) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::optional<StartLine> parse_status_line(std::string_view line) {
    // "HTTP/1.1 200 OK"; the reason phrase may be empty or missing.
    std::optional<int> minor = parse_version(line.substr(0, 8));
    if (!minor || line.size() < 12 || line[8] != ' ') return std::nullopt;
    std::string_view rest = line.substr(9);
    rest.remove_prefix(std::min(rest.find_first_not_of(' '), rest.size()));
    if (rest.size() < 3 || !is_digit(rest[0]) || !is_digit(rest[1]) || !is_digit(rest[2]))
        return std::nullopt;
    if (rest.size() > 3 && rest[3] != ' ' && rest[3] != '\t') return std::nullopt;
    StartLine start;
    start.status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    start.minor_version = *minor;
    return start.status >= 100 ? std::optional(start) : std::nullopt;
}

std::optional<StartLine> parse_request_line(std::string_view line) {
    size_t method_end = line.find(' ');
    if (method_end == std::string_view::npos || !is_known_method(line.substr(0, method_end)))
        return std::nullopt;
    StartLine start;
    start.is_request = true;
    start.method = line.substr(0, method_end);
    // The version is the last word; a target with unencoded spaces is still taken whole.
    size_t version_start = line.rfind(' ');
    std::optional<int> minor = parse_version(line.substr(version_start + 1));
    if (minor && version_start > method_end) {
        start.target = trim(line.substr(method_end + 1, version_start - method_end - 1));
        start.minor_version = *minor;
        return start.target.empty() ? std::nullopt : std::optional(start);
    }
    // HTTP/0.9: "GET /path" and nothing else.
    start.target = line.substr(method_end + 1);
    if (start.method != "GET" || !start.target.starts_with('/') ||
        start.target.find_first_of(" \t") != std::string_view::npos)
        return std::nullopt;
    start.minor_version = -1;
    return start;
}

// Appends the value of another line of a list field (RFC 9110 section 5.3).
void append_list(std::string& list, std::string_view value) {
    if (!list.empty()) list.append(", ");
    list.append(lower(value));
}

// Calls `visit` with each element of a comma-separated list, trimmed and without
// parameters, skipping empty elements (RFC 9110 section 5.6.1).
template <typename Visit>
void for_each_list_element(std::string_view list, Visit visit) {
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        item = trim(item.substr(0, item.find(';')));
        if (!item.empty()) visit(item);
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
}

// The boundary parameter of a Content-Type value ("multipart/form-data; boundary=x"),
// without the quotes of a quoted string. Empty when absent or longer than kMaxBoundary.
std::string_view multipart_boundary(std::string_view value) {
    for (size_t semicolon = value.find(';'); semicolon != std::string_view::npos;
         semicolon = value.find(';', semicolon + 1)) {
        std::string_view parameter = trim(value.substr(semicolon + 1));
        size_t equals = parameter.find('=');
        if (equals == std::string_view::npos ||
            !equals_ignoring_case(trim(parameter.substr(0, equals)), "boundary"))
            continue;
        std::string_view boundary = trim(parameter.substr(equals + 1));
        if (boundary.starts_with('"')) {
            size_t end = boundary.find('"', 1);
            boundary =
                end == std::string_view::npos ? std::string_view() : boundary.substr(1, end - 1);
        } else {
            boundary = trim(boundary.substr(0, boundary.find(';')));
        }
        return boundary.size() <= kMaxBoundary ? boundary : std::string_view();
    }
    return {};
}

}  // namespace

std::vector<std::string_view> MessageHead::applied_codings() const {
    std::vector<std::string_view> codings;
    for_each_list_element(content_encoding,
                          [&codings](std::string_view coding) { codings.push_back(coding); });
    size_t transfer = transfer_codings.size() - (chunked ? 1 : 0);
    codings.insert(codings.end(), transfer_codings.begin(), transfer_codings.begin() + transfer);
    return codings;
}

std::optional<StartLine> parse_start_line(std::string_view line) {
    if (line.empty() || !std::all_of(line.begin(), line.end(), is_line_char)) return std::nullopt;
    if (line.starts_with("HTTP/")) return parse_status_line(line);
    return parse_request_line(line);
}

bool could_be_start_line(std::string_view prefix) {
    // The line ending may have begun to arrive.
    if (prefix.ends_with('\r')) prefix.remove_suffix(1);
    if (!std::all_of(prefix.begin(), prefix.end(), is_line_char)) return false;
    constexpr std::string_view kVersion = "HTTP/";
    if (kVersion.starts_with(prefix.substr(0, kVersion.size())) &&
        (prefix.size() <= kVersion.size() || prefix.starts_with(kVersion)))
        return true;
    size_t space = prefix.find(' ');
    if (space != std::string_view::npos) return is_known_method(prefix.substr(0, space));
    if (prefix.size() > kMaxMethodLength) return false;
    return std::any_of(kMethods.begin(), kMethods.end(),
                       [prefix](std::string_view method) { return method.starts_with(prefix); });
}

bool is_partial_start_line(std::string_view prefix) {
    if (prefix.ends_with('\r')) prefix.remove_suffix(1);
    if (!std::all_of(prefix.begin(), prefix.end(), is_line_char)) return false;
    if (prefix.starts_with("HTTP/")) {
        return prefix.size() >= 12 && parse_version(prefix.substr(0, 8)) && prefix[8] == ' ' &&
               is_digit(prefix[9]) && is_digit(prefix[10]) && is_digit(prefix[11]);
    }
    size_t space = prefix.find(' ');
    if (space == std::string_view::npos || !is_known_method(prefix.substr(0, space))) return false;
    std::string_view target = prefix.substr(space + 1);
    return target.starts_with('/') || target.starts_with("http://") ||
           target.starts_with("https://");
}

bool list_has_token(std::string_view list, std::string_view token) {
    while (!list.empty()) {
        size_t comma = list.find(',');
        std::string_view item = trim(list.substr(0, comma));
        item = item.substr(0, item.find('/'));
        if (equals_ignoring_case(trim(item), token)) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

void for_each_field(std::string_view lines,
                    const std::function<void(std::string_view, std::string_view)>& visit) {
    while (!lines.empty()) {
        size_t end = lines.find('\n');
        std::string_view field = lines.substr(0, end);
        lines = end == std::string_view::npos ? std::string_view() : lines.substr(end + 1);
        if (field.ends_with('\r')) field.remove_suffix(1);
        size_t colon = field.find(':');
        if (colon == 0 || colon == std::string_view::npos) continue;
        std::string_view name = field.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), is_token_char)) continue;
        visit(name, trim(field.substr(colon + 1)));
    }
}

std::string media_type_of(std::string_view content_type) {
    return lower(trim(content_type.substr(0, content_type.find(';'))));
}

namespace {

// The boundary of a Content-Type value whose media type is `media_type`, empty unless it
// is a multipart type.
std::string boundary_of(std::string_view media_type, std::string_view content_type) {
    return media_type.starts_with("multipart/") ? std::string(multipart_boundary(content_type))
                                                : std::string();
}

}  // namespace

ContentType field_content_type(std::string_view lines) {
    ContentType type;
    for_each_field(lines, [&type](std::string_view name, std::string_view value) {
        if (!equals_ignoring_case(name, "content-type")) return;
        type.media_type = media_type_of(value);
        type.boundary = boundary_of(type.media_type, value);
    });
    return type;
}

std::optional<MessageHead> parse_head(std::string_view head) {
    size_t line_end = head.find('\n');
    std::string_view first = head.substr(0, line_end);
    if (first.ends_with('\r')) first.remove_suffix(1);
    std::optional<StartLine> line = parse_start_line(first);
    if (!line) return std::nullopt;
    MessageHead message;
    message.line = *line;
    message.method = line->method;
    message.target = line->target;
    message.line.method = message.method;
    message.line.target = message.target;

    std::string_view rest =
        line_end == std::string_view::npos ? std::string_view() : head.substr(line_end + 1);
    for_each_field(rest, [&message](std::string_view name, std::string_view value) {
        if (equals_ignoring_case(name, "content-length")) {
            if (value.empty() || value.size() > 15 ||
                !std::all_of(value.begin(), value.end(), is_digit))
                return;
            uint64_t length = std::stoull(std::string(value));
            if (!message.content_length) message.content_length = length;
        } else if (equals_ignoring_case(name, "transfer-encoding")) {
            for_each_list_element(value, [&message](std::string_view coding) {
                message.transfer_codings.push_back(lower(coding));
            });
        } else if (equals_ignoring_case(name, "content-type")) {
            message.content_type = media_type_of(value);
            message.boundary = boundary_of(message.content_type, value);
        } else if (equals_ignoring_case(name, "content-encoding")) {
            append_list(message.content_encoding, value);
        } else if (equals_ignoring_case(name, "upgrade")) {
            append_list(message.upgrade, value);
        }
    });
    message.chunked =
        !message.transfer_codings.empty() && message.transfer_codings.back() == "chunked";
    return message;
}

}  // namespace pw::detect::http
