#pragma once

#include <cstdint>
#include <span>

namespace pw::detect::finger {

// True when `data` is exactly one finger query line (RFC 1288 section 2.3): an optional
// "/W", an optional user name, any "@host" forwarding hops, then CRLF.
bool is_query(std::span<const uint8_t> data);

// True when `data` can be part of a finger reply: printable text, tabs and line breaks.
bool is_reply_text(std::span<const uint8_t> data);

}  // namespace pw::detect::finger
