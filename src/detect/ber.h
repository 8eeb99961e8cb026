#pragma once

// Reading ASN.1 BER/DER headers (identifier and length octets) from untrusted bytes, for the
// detectors of ASN.1-encoded protocols (Kerberos, LDAP). Only headers are read: the caller
// decides how much of the value it needs and checks that it is there.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace pw::detect::ber {

inline constexpr uint8_t kUniversal = 0x00;
inline constexpr uint8_t kApplication = 0x40;
inline constexpr uint8_t kContext = 0x80;

inline constexpr uint32_t kTagInteger = 2;
inline constexpr uint32_t kTagOctetString = 4;
inline constexpr uint32_t kTagEnumerated = 10;
inline constexpr uint32_t kTagSequence = 16;

// Lengths above this are not plausible for the messages these detectors look at, and would
// overflow size arithmetic on 32-bit hosts.
inline constexpr size_t kMaxLength = 1u << 28;

struct Header {
    uint8_t tag_class = 0;  // kUniversal, kApplication, kContext or 0xC0 (private)
    bool constructed = false;
    uint32_t tag = 0;
    size_t header_length = 0;  // identifier plus length octets
    size_t length = 0;         // of the value; 0 for the indefinite form
    bool indefinite = false;

    bool is(uint8_t cls, uint32_t number) const { return tag_class == cls && tag == number; }
    size_t total() const { return header_length + length; }
};

// Reads the header at the start of `data`. Returns nullopt when the header is truncated or
// malformed (a tag number or length that needs more than four octets, a length above
// kMaxLength). The value itself may extend past the end of `data`.
inline std::optional<Header> read_header(std::span<const uint8_t> data) {
    if (data.size() < 2) return std::nullopt;
    Header h;
    h.tag_class = data[0] & 0xC0;
    h.constructed = (data[0] & 0x20) != 0;
    size_t pos = 1;
    if ((data[0] & 0x1F) != 0x1F) {
        h.tag = data[0] & 0x1F;
    } else {
        // High tag number form: base-128 digits, the last without its top bit.
        for (int digits = 0;; ++digits) {
            if (pos >= data.size() || digits == 4) return std::nullopt;
            uint8_t b = data[pos++];
            h.tag = (h.tag << 7) | (b & 0x7F);
            if ((b & 0x80) == 0) break;
        }
    }
    if (pos >= data.size()) return std::nullopt;
    uint8_t first = data[pos++];
    if (first < 0x80) {
        h.length = first;
    } else if (first == 0x80) {
        if (!h.constructed) return std::nullopt;  // indefinite length needs a constructed value
        h.indefinite = true;
    } else {
        size_t octets = first & 0x7F;
        if (octets > 4 || pos + octets > data.size()) return std::nullopt;
        for (size_t i = 0; i < octets; ++i) h.length = (h.length << 8) | data[pos++];
        if (h.length > kMaxLength) return std::nullopt;
    }
    h.header_length = pos;
    return h;
}

// Reads a small non-negative INTEGER (up to four value octets) whose encoding is entirely in
// `data`; `h` is its header. Returns nullopt for anything else.
inline std::optional<uint32_t> read_small_integer(std::span<const uint8_t> data, const Header& h) {
    if (h.tag_class != kUniversal || h.tag != kTagInteger || h.constructed) return std::nullopt;
    if (h.length == 0 || h.length > 5 || h.total() > data.size()) return std::nullopt;
    const uint8_t* value = data.data() + h.header_length;
    if (value[0] & 0x80) return std::nullopt;  // negative
    if (h.length == 5 && value[0] != 0) return std::nullopt;
    uint32_t result = 0;
    for (size_t i = 0; i < h.length; ++i) result = (result << 8) | value[i];
    return result;
}

}  // namespace pw::detect::ber
