#include "query/literals.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <ctime>
#include <limits>

namespace pw::query {
namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

// Parses exactly `digits` decimal digits at `text[pos]`, advancing `pos`.
std::optional<int> take_digits(std::string_view text, size_t& pos, size_t digits) {
    if (pos + digits > text.size()) return std::nullopt;
    int value = 0;
    for (size_t i = 0; i < digits; ++i) {
        char c = text[pos + i];
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + (c - '0');
    }
    pos += digits;
    return value;
}

bool take_char(std::string_view text, size_t& pos, char expected) {
    if (pos < text.size() && text[pos] == expected) {
        ++pos;
        return true;
    }
    return false;
}

// Parses the "+HH:MM", "+HHMM", "-HH:MM" or "Z" at the end of an ISO 8601 time.
std::optional<int64_t> take_offset_ms(std::string_view text, size_t& pos) {
    if (pos == text.size()) return 0;
    if (take_char(text, pos, 'Z') || take_char(text, pos, 'z')) return 0;
    int sign = 0;
    if (take_char(text, pos, '+')) sign = 1;
    if (sign == 0 && take_char(text, pos, '-')) sign = -1;
    if (sign == 0) return std::nullopt;
    auto hours = take_digits(text, pos, 2);
    take_char(text, pos, ':');
    auto minutes = take_digits(text, pos, 2);
    if (!hours || !minutes || *hours > 23 || *minutes > 59) return std::nullopt;
    return sign * (*hours * 3600 + *minutes * 60) * int64_t{1000};
}

std::optional<int64_t> parse_iso_time(std::string_view text) {
    size_t pos = 0;
    std::tm parts{};
    auto year = take_digits(text, pos, 4);
    if (!year || !take_char(text, pos, '-')) return std::nullopt;
    auto month = take_digits(text, pos, 2);
    if (!month || !take_char(text, pos, '-')) return std::nullopt;
    auto day = take_digits(text, pos, 2);
    if (!day || *month < 1 || *month > 12 || *day < 1 || *day > 31) return std::nullopt;
    parts.tm_year = *year - 1900;
    parts.tm_mon = *month - 1;
    parts.tm_mday = *day;

    int64_t fraction_ms = 0;
    if (take_char(text, pos, 'T') || take_char(text, pos, 't') || take_char(text, pos, ' ')) {
        auto hour = take_digits(text, pos, 2);
        if (!hour || !take_char(text, pos, ':')) return std::nullopt;
        auto minute = take_digits(text, pos, 2);
        if (!minute || *hour > 23 || *minute > 59) return std::nullopt;
        parts.tm_hour = *hour;
        parts.tm_min = *minute;
        if (take_char(text, pos, ':')) {
            auto second = take_digits(text, pos, 2);
            if (!second || *second > 60) return std::nullopt;
            parts.tm_sec = *second;
            if (take_char(text, pos, '.') || take_char(text, pos, ',')) {
                int64_t scale = 100;
                size_t start = pos;
                while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
                    fraction_ms += (text[pos] - '0') * scale;
                    scale /= 10;
                    ++pos;
                }
                if (pos == start) return std::nullopt;
            }
        }
    }
    auto offset_ms = take_offset_ms(text, pos);
    if (!offset_ms || pos != text.size()) return std::nullopt;

    // timegm normalizes an impossible date such as February 30; reject it instead.
    std::tm normalized = parts;
    int64_t seconds = timegm(&normalized);
    if (normalized.tm_mday != parts.tm_mday || normalized.tm_mon != parts.tm_mon) {
        return std::nullopt;
    }
    return seconds * 1000 + fraction_ms - *offset_ms;
}

std::optional<int64_t> parse_integer(std::string_view text) {
    int64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text) {
    size_t number_end = 0;
    while (
        number_end < text.size() &&
        (std::isdigit(static_cast<unsigned char>(text[number_end])) || text[number_end] == '.')) {
        ++number_end;
    }
    std::string_view number = text.substr(0, number_end);
    std::string_view suffix = text.substr(number_end);
    if (number.empty() || number.front() == '.') return std::nullopt;

    struct Unit {
        std::string_view name;
        double factor;
    };
    static constexpr std::array<Unit, 10> kUnits{{{"", 1},
                                                  {"b", 1},
                                                  {"kb", 1e3},
                                                  {"mb", 1e6},
                                                  {"gb", 1e9},
                                                  {"tb", 1e12},
                                                  {"kib", 1024.0},
                                                  {"mib", 1048576.0},
                                                  {"gib", 1073741824.0},
                                                  {"tib", 1099511627776.0}}};
    for (const Unit& unit : kUnits) {
        if (!equal_ignoring_case(suffix, unit.name)) continue;
        if (number.find('.') == std::string_view::npos) {
            uint64_t whole = 0;
            auto [end, error] =
                std::from_chars(number.data(), number.data() + number.size(), whole);
            if (error != std::errc() || end != number.data() + number.size()) return std::nullopt;
            auto factor = static_cast<uint64_t>(unit.factor);
            if (whole > std::numeric_limits<uint64_t>::max() / factor) return std::nullopt;
            return whole * factor;
        }
        double value = 0;
        auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
        if (error != std::errc() || end != number.data() + number.size()) return std::nullopt;
        double bytes = value * unit.factor;
        if (bytes >= 1.8e19) return std::nullopt;
        return static_cast<uint64_t>(bytes + 0.5);
    }
    return std::nullopt;
}

std::optional<uint64_t> parse_exact_size(std::string_view text) {
    std::optional<uint64_t> size = parse_size(text);
    const size_t number_end = std::min(text.find_first_not_of("0123456789."), text.size());
    const std::string_view number = text.substr(0, number_end);
    if (!size || number.find('.') == std::string_view::npos) return size;
    // parse_size() rounded to the nearest byte. The bytes were whole if the digits after the
    // point, times the unit, make a whole number: "1.5KB" is 15 * 100.
    const size_t point = number.find('.');
    const std::string_view fraction = number.substr(point + 1);
    const uint64_t unit = *parse_size(std::string("1") + std::string(text.substr(number_end)));
    uint64_t scale = 1;
    for (size_t i = 0; i < fraction.size(); ++i) {
        if (scale > std::numeric_limits<uint64_t>::max() / 10) return std::nullopt;
        scale *= 10;
    }
    uint64_t digits = 0;
    std::from_chars(fraction.data(), fraction.data() + fraction.size(), digits);
    // unit * digits / scale must be whole: (digits * unit) % scale == 0, in 128 bits.
    const unsigned __int128 product = static_cast<unsigned __int128>(digits) * unit;
    if (product % scale != 0) return std::nullopt;
    return size;
}

std::optional<int64_t> parse_duration(std::string_view text) {
    if (text == "0") return 0;
    struct Unit {
        std::string_view name;
        int64_t ms;
    };
    // "ms" comes before "m" so that the longer unit wins.
    static constexpr std::array<Unit, 6> kUnits{{{"ms", 1},
                                                 {"s", 1000},
                                                 {"m", 60'000},
                                                 {"h", 3'600'000},
                                                 {"d", 86'400'000},
                                                 {"w", 604'800'000}}};
    int64_t total = 0;
    size_t pos = 0;
    if (text.empty()) return std::nullopt;
    while (pos < text.size()) {
        size_t start = pos;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
        if (pos == start || pos - start > 9) return std::nullopt;
        int64_t count = *parse_integer(text.substr(start, pos - start));
        const Unit* matched = nullptr;
        for (const Unit& unit : kUnits) {
            if (text.substr(pos, unit.name.size()) == unit.name) {
                matched = &unit;
                break;
            }
        }
        if (matched == nullptr) return std::nullopt;
        pos += matched->name.size();
        total += count * matched->ms;
    }
    return total;
}

std::optional<int64_t> parse_time(std::string_view text, int64_t now) {
    if (equal_ignoring_case(text, "now")) return now;
    if (text.size() > 1 && (text[0] == '-' || text[0] == '+') &&
        !std::isdigit(static_cast<unsigned char>(text.back()))) {
        auto duration = parse_duration(text.substr(1));
        if (!duration) return std::nullopt;
        return text[0] == '-' ? now - *duration : now + *duration;
    }
    if (auto iso = parse_iso_time(text)) return iso;
    return parse_integer(text);
}

std::string format_time(int64_t time_ms) {
    int64_t seconds = time_ms / 1000;
    int64_t millis = time_ms % 1000;
    if (millis < 0) {
        millis += 1000;
        seconds -= 1;
    }
    auto time = static_cast<std::time_t>(seconds);
    std::tm parts{};
    gmtime_r(&time, &parts);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", parts.tm_year + 1900,
                       parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                       millis);
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace pw::query
