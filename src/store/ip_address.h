#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pw::store {

// An address in the 16-byte form the store indexes: IPv6 as is, IPv4 as an IPv4-mapped IPv6
// address (::ffff:a.b.c.d). Byte-wise order of this form keeps each network a contiguous
// range, so a CIDR match is a BETWEEN on an index.
using AddressBytes = std::array<uint8_t, 16>;

std::optional<AddressBytes> parse_address(std::string_view text);

// The inclusive range of a network.
struct AddressRange {
    AddressBytes first;
    AddressBytes last;
};

// Parses "a.b.c.d/len" (len 0 to 32) or "v6/len" (len 0 to 128).
std::optional<AddressRange> parse_network(std::string_view text);

}  // namespace pw::store
