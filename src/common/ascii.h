#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace pw {

// Case folding of ASCII letters only. Protocol keywords and the markers that content
// identification looks for are ASCII; std::tolower also consults the C locale on every
// call, which costs more than the comparison it serves.
constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

constexpr char ascii_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - ('a' - 'A')) : c;
}

// True when `text` contains `needle` (lower-case), ignoring the case of `text`.
constexpr bool contains_ignoring_case(std::string_view text, std::string_view needle) {
    if (needle.empty()) return true;
    for (size_t i = 0; i + needle.size() <= text.size(); ++i) {
        if (ascii_lower(text[i]) != needle[0]) continue;
        size_t j = 1;
        while (j < needle.size() && ascii_lower(text[i + j]) == needle[j]) ++j;
        if (j == needle.size()) return true;
    }
    return false;
}

// Returns the length of the well-formed UTF-8 sequence that starts at `text[i]`: 1 for an
// ASCII byte, 0 for a byte that starts none. Overlong forms, surrogates and code points
// above U+10FFFF are not well-formed (the syntax of RFC 3629, section 4).
inline size_t utf8_length_at(std::string_view text, size_t i) {
    const auto byte = static_cast<uint8_t>(text[i]);
    if (byte < 0x80) return 1;
    size_t length = 0;
    if (byte >= 0xC2 && byte <= 0xDF) length = 2;
    if (byte >= 0xE0 && byte <= 0xEF) length = 3;
    if (byte >= 0xF0 && byte <= 0xF4) length = 4;
    if (length == 0 || i + length > text.size()) return 0;
    for (size_t j = 1; j < length; ++j) {
        if ((static_cast<uint8_t>(text[i + j]) & 0xC0) != 0x80) return 0;
    }
    const auto second = static_cast<uint8_t>(text[i + 1]);
    if ((byte == 0xE0 && second < 0xA0) || (byte == 0xED && second > 0x9F) ||
        (byte == 0xF0 && second < 0x90) || (byte == 0xF4 && second > 0x8F)) {
        return 0;
    }
    return length;
}

// Returns whether `text` is well-formed UTF-8 throughout.
inline bool is_valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        if (static_cast<uint8_t>(text[i]) < 0x80) {
            ++i;
            continue;
        }
        const size_t length = utf8_length_at(text, i);
        if (length == 0) return false;
        i += length;
    }
    return true;
}

// Returns `text` with each ill-formed part replaced by U+FFFD: a byte that starts no
// sequence, or the longest start of a sequence that breaks off. That is the replacement of
// each "maximal subpart", which the Unicode Technical Committee prefers, and what
// nlohmann::json's dump() writes, so text stored this way prints as JSON does.
inline std::string to_valid_utf8(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
        const size_t length = utf8_length_at(text, i);
        if (length > 0) {
            out.append(text.substr(i, length));
            i += length;
            continue;
        }
        // The bytes that could still begin a well-formed sequence (RFC 3629, section 4).
        const auto lead = static_cast<uint8_t>(text[i]);
        size_t expected = 0;
        uint8_t low = 0x80;
        uint8_t high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF) expected = 2;
        if (lead >= 0xE0 && lead <= 0xEF) expected = 3;
        if (lead >= 0xF0 && lead <= 0xF4) expected = 4;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
        size_t part = 1;
        while (expected > 0 && part < expected && i + part < text.size()) {
            const auto next = static_cast<uint8_t>(text[i + part]);
            if (next < low || next > high) break;
            low = 0x80;
            high = 0xBF;
            ++part;
        }
        out += "\xef\xbf\xbd";
        i += part;
    }
    return out;
}

// Returns `text` with \xNN escapes for what a terminal would act on rather than show. Those
// are control characters (C0, DEL, C1), which move the cursor or erase lines, and
// bidirectional controls, which reorder the line. Bytes that are not UTF-8 and the
// backslash (\x5c) are escaped too. Tables print process names that any local user chooses.
inline std::string terminal_safe(std::string_view text) {
    constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(text.size());
    auto escape = [&](uint8_t byte) {
        out += "\\x";
        out += kHex[byte >> 4];
        out += kHex[byte & 0xF];
    };
    size_t i = 0;
    while (i < text.size()) {
        const auto byte = static_cast<uint8_t>(text[i]);
        if (byte >= 0x20 && byte < 0x7F && byte != '\\') {
            out += static_cast<char>(byte);
            ++i;
            continue;
        }
        const size_t length = utf8_length_at(text, i);
        bool valid = length > 1;
        // C1 controls are U+0080 to U+009F: C2 80 to C2 9F.
        if (valid && byte == 0xC2 && static_cast<uint8_t>(text[i + 1]) < 0xA0) valid = false;
        // Bidirectional controls, which reorder what follows them on the line: U+200E,
        // U+200F, U+202A to U+202E (E2 80 8E, 8F, AA to AE) and U+2066 to U+2069
        // (E2 81 A6 to A9).
        if (valid && byte == 0xE2) {
            const auto second = static_cast<uint8_t>(text[i + 1]);
            const auto third = static_cast<uint8_t>(text[i + 2]);
            if ((second == 0x80 &&
                 (third == 0x8E || third == 0x8F || (third >= 0xAA && third <= 0xAE))) ||
                (second == 0x81 && third >= 0xA6 && third <= 0xA9)) {
                valid = false;
            }
        }
        if (!valid) {
            escape(byte);
            ++i;
            continue;
        }
        out.append(text.substr(i, length));
        i += length;
    }
    return out;
}

}  // namespace pw
