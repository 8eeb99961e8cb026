#pragma once

// Parsing of HTTP/1.x message heads (RFC 9112): the start line and the header fields that
// decide how the body is framed and what it carries.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pw::detect::http {

struct StartLine {
    bool is_request = false;
    std::string_view method;  // requests
    std::string_view target;  // requests
    int status = 0;           // responses
    int minor_version = 1;    // HTTP/1.minor; -1 for an HTTP/0.9 request without a version
};

// Parses one start line without its line ending. Requests need a method of the IANA
// registry (or one of a few vendor methods) and "HTTP/1.x", and "GET /path" alone is
// accepted as HTTP/0.9. Responses need "HTTP/1.x" and a three-digit status code.
std::optional<StartLine> parse_start_line(std::string_view line);

// True when `prefix`, the beginning of a line still being received, can still become a
// start line that parse_start_line() accepts.
bool could_be_start_line(std::string_view prefix);

// True when `prefix`, a start line cut before its end, already shows a message: a known
// method, a space and the start of a target ("/" or "http"), or "HTTP/1.x" and a status.
bool is_partial_start_line(std::string_view prefix);

// The header fields a detector acts on. The lines of a list field sent more than once
// (Content-Encoding, Transfer-Encoding, Upgrade) make one list, in order (RFC 9110 section
// 5.3). Of another field's lines the last counts, except for Content-Length, where the
// first valid line counts.
struct MessageHead {
    StartLine line;
    std::string method;  // owned copies of line.method and line.target
    std::string target;
    std::optional<uint64_t> content_length;
    // The Transfer-Encoding codings in the order they were applied: lower-case names
    // without parameters or empty list elements. Empty when the field is absent or lists
    // no coding.
    std::vector<std::string> transfer_codings;
    bool chunked = false;          // chunked is the final transfer coding
    std::string content_type;      // the media type, lower-case, without parameters
    // The boundary parameter of a multipart media type, as sent, without quotes, of up to
    // kMaxBoundary characters. Empty for other types.
    std::string boundary;
    std::string content_encoding;  // lower-case, as sent
    std::string upgrade;           // lower-case, as sent

    // Returns every coding applied to the content, in the order applied: the content
    // codings, then the transfer codings but a final chunked, which the framing removes.
    std::vector<std::string_view> applied_codings() const;
};

// Parses a message head: the start line and the field lines, without the empty line that
// ends the head. A line that is not a valid field line is skipped, as is an obsolete line
// folding (a line starting with a space or tab), whose text is not joined to the field.
// NOTE: RFC 9112 section 5.2 has user agents unfold such lines instead, so a browser
// decodes a body whose Content-Encoding is folded, and this parser scans it as sent.
std::optional<MessageHead> parse_head(std::string_view head);

// Calls `visit` with the name and trimmed value of each valid field line of `lines`, as
// parse_head() reads them: a line without a colon or with an invalid name is skipped.
void for_each_field(std::string_view lines,
                    const std::function<void(std::string_view, std::string_view)>& visit);

// Returns the media type of a Content-Type value, lower-case and without parameters.
std::string media_type_of(std::string_view content_type);

// The maximum length of a multipart boundary. RFC 2046 section 5.1.1 allows 70 characters,
// but a receiver that does not check accepts longer ones, so they are followed up to this
// bound, which keeps the search for the delimiter cheap.
inline constexpr size_t kMaxBoundary = 1024;

// The media type of a Content-Type value, lower-case and without parameters, and its
// boundary as MessageHead::boundary has it.
struct ContentType {
    std::string media_type;
    std::string boundary;
};

// Returns the type of the last Content-Type line among the field lines `lines`, empty when
// none has one (the header lines of a multipart body's part, say).
ContentType field_content_type(std::string_view lines);

// True when a comma-separated list such as an Upgrade or Content-Encoding value names
// `token` (lower-case), ignoring case and any "/version".
bool list_has_token(std::string_view list, std::string_view token);

}  // namespace pw::detect::http
