#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <string>

namespace pw {

// Accepts a whole number from `low` to `high`, written in decimal. CLI::Range names only the
// range, even for a value that is no number at all.
inline CLI::Validator range_validator(int64_t low, int64_t high) {
    return CLI::Validator(
        [low, high](std::string& text) -> std::string {
            int64_t value = 0;
            auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
            if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
                value < low || value > high) {
                return "'" + text + "' must be a whole number from " + std::to_string(low) +
                       " to " + std::to_string(high);
            }
            // CLI11 reads a leading 0 as octal when it converts the text afterwards.
            text = std::to_string(value);
            return {};
        },
        "INT in [" + std::to_string(low) + " - " + std::to_string(high) + "]");
}

}  // namespace pw
