#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <string>

namespace pw {

namespace detail {

// Returns whether all of `text` is a decimal whole number that fits in `value`, and stores it
// there.
template <typename Number>
bool read_decimal(const std::string& text, Number& value) {
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && error == std::errc() && end == text.data() + text.size();
}

}  // namespace detail

// Accepts a whole number from `low` to `high`, written in decimal. CLI::Range names only the
// range, even for a value that is no number at all. CLI11 reads a leading 0 as octal when it
// converts the text afterwards, so the text is rewritten without it.
inline CLI::Validator range_validator(int64_t low, int64_t high) {
    return CLI::Validator(
        [low, high](std::string& text) -> std::string {
            int64_t value = 0;
            if (!detail::read_decimal(text, value) || value < low || value > high) {
                return "'" + text + "' must be a whole number from " + std::to_string(low) +
                       " to " + std::to_string(high);
            }
            text = std::to_string(value);
            return {};
        },
        "INT in [" + std::to_string(low) + " - " + std::to_string(high) + "]");
}

// Accepts a whole number of at least 1, or at least 0 with `allow_zero`, in decimal as
// range_validator() does. CLI::PositiveNumber's message prints a 300-digit bound, and
// unsigned options take -1 as the largest number.
inline CLI::Validator count_validator(bool allow_zero = false) {
    return CLI::Validator(
        [allow_zero](std::string& text) -> std::string {
            uint64_t value = 0;
            if (!detail::read_decimal(text, value) || (value == 0 && !allow_zero)) {
                return "'" + text + "' must be a whole number of at least " +
                       (allow_zero ? "0" : "1");
            }
            text = std::to_string(value);
            return {};
        },
        allow_zero ? "UINT" : "POSITIVE");
}

}  // namespace pw
