#pragma once

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

}  // namespace pw
