#include "store/ip_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace pw::store {

std::optional<AddressBytes> parse_address(std::string_view text) {
    // inet_pton needs a terminated string; the longest textual IPv6 address is 45 characters.
    char buffer[64];
    if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';

    AddressBytes bytes{};
    in_addr v4{};
    if (inet_pton(AF_INET, buffer, &v4) == 1) {
        bytes[10] = 0xff;
        bytes[11] = 0xff;
        std::memcpy(bytes.data() + 12, &v4, 4);
        return bytes;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, buffer, &v6) == 1) {
        std::memcpy(bytes.data(), &v6, 16);
        return bytes;
    }
    return std::nullopt;
}

std::optional<AddressRange> parse_network(std::string_view text) {
    size_t slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::optional<AddressBytes> base = parse_address(text.substr(0, slash));
    if (!base) return std::nullopt;

    std::string_view length_text = text.substr(slash + 1);
    unsigned length = 0;
    auto [end, error] =
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (length_text.empty() || error != std::errc() ||
        end != length_text.data() + length_text.size()) {
        return std::nullopt;
    }
    bool is_v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    unsigned max_length = is_v4 ? 32 : 128;
    if (length > max_length) return std::nullopt;
    unsigned prefix_bits = is_v4 ? length + 96 : length;

    AddressRange range{*base, *base};
    for (unsigned bit = prefix_bits; bit < 128; ++bit) {
        auto mask = static_cast<uint8_t>(0x80u >> (bit % 8));
        range.first[bit / 8] &= static_cast<uint8_t>(~mask);
        range.last[bit / 8] |= mask;
    }
    return range;
}

}  // namespace pw::store
