#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pw::query {

// Parses an integer with an optional size suffix. KB, MB, GB and TB are powers of 1000 and
// KiB, MiB, GiB and TiB powers of 1024, as in IEC 80000-13; B or no suffix means bytes. The
// suffix is case-insensitive and a fraction is allowed before one ("1.5MB").
std::optional<uint64_t> parse_size(std::string_view text);
// Like parse_size(), but without rounding: a fraction must give a whole number of bytes
// ("1.5KB" is 1500, "44.5" and "1.3KiB" are rejected). For comparisons, where rounding
// would change which values match.
std::optional<uint64_t> parse_exact_size(std::string_view text);

// Parses a duration such as "90s", "30m", "1h30m", "7d" or "2w" into milliseconds. Units:
// ms, s, m, h, d, w. A bare "0" is zero.
std::optional<int64_t> parse_duration(std::string_view text);

// Parses a point in time into milliseconds since the epoch:
// - ISO 8601: "2024-05-01", "2024-05-01T10:00", "2024-05-01T10:00:00.250Z",
//   "2024-05-01T12:00:00+02:00" (UTC when the offset is missing);
// - relative to `now_ms`: "now", "-1h", "-30m", "-7d", "-1h30m";
// - an integer count of milliseconds since the epoch.
std::optional<int64_t> parse_time(std::string_view text, int64_t now_ms);

// Formats milliseconds since the epoch as ISO 8601 UTC with milliseconds.
std::string format_time(int64_t time_ms);

// Milliseconds since the epoch by the system clock.
int64_t now_ms();

// The accepted forms, for error messages.
inline constexpr std::string_view kTimeForms =
    "an ISO 8601 time (2024-05-01T10:00:00Z), a relative time (-1h, -30m, -7d) or milliseconds "
    "since the epoch";

}  // namespace pw::query
