#include <gtest/gtest.h>

#include "query/literals.h"

namespace pw::query {
namespace {

TEST(QueryLiterals, SizesDecimalAndBinary) {
    EXPECT_EQ(parse_size("1500"), 1500u);
    EXPECT_EQ(parse_size("1B"), 1u);
    EXPECT_EQ(parse_size("1KB"), 1000u);
    EXPECT_EQ(parse_size("1kb"), 1000u);
    EXPECT_EQ(parse_size("1MB"), 1'000'000u);
    EXPECT_EQ(parse_size("2GB"), 2'000'000'000u);
    EXPECT_EQ(parse_size("1KiB"), 1024u);
    EXPECT_EQ(parse_size("1MiB"), 1'048'576u);
    EXPECT_EQ(parse_size("1.5MB"), 1'500'000u);
}

TEST(QueryLiterals, SizesRejected) {
    EXPECT_FALSE(parse_size(""));
    EXPECT_FALSE(parse_size("MB"));
    EXPECT_FALSE(parse_size("1XB"));
    EXPECT_FALSE(parse_size("-1MB"));
    EXPECT_FALSE(parse_size(".5MB"));
    EXPECT_FALSE(parse_size("99999999999999999999TB"));
}

TEST(QueryLiterals, ExactSizesAreWholeBytes) {
    EXPECT_EQ(parse_exact_size("1500"), 1500u);
    EXPECT_EQ(parse_exact_size("1.5KB"), 1500u);
    EXPECT_EQ(parse_exact_size("1.25KiB"), 1280u);
    EXPECT_EQ(parse_exact_size("44.0"), 44u);
    EXPECT_EQ(parse_exact_size("0.000001MB"), 1u);
    EXPECT_FALSE(parse_exact_size("44.5"));
    EXPECT_FALSE(parse_exact_size("2.50"));
    EXPECT_FALSE(parse_exact_size("0.0449KB"));
    EXPECT_FALSE(parse_exact_size("1.3KiB"));
    EXPECT_FALSE(parse_exact_size("0.5B"));
    EXPECT_FALSE(parse_exact_size("1.5XB"));
}

TEST(QueryLiterals, Durations) {
    EXPECT_EQ(parse_duration("0"), 0);
    EXPECT_EQ(parse_duration("250ms"), 250);
    EXPECT_EQ(parse_duration("30s"), 30'000);
    EXPECT_EQ(parse_duration("30m"), 1'800'000);
    EXPECT_EQ(parse_duration("1h30m"), 5'400'000);
    EXPECT_EQ(parse_duration("7d"), 604'800'000);
    EXPECT_EQ(parse_duration("2w"), 1'209'600'000);
    EXPECT_FALSE(parse_duration(""));
    EXPECT_FALSE(parse_duration("5"));
    EXPECT_FALSE(parse_duration("5y"));
    EXPECT_FALSE(parse_duration("h"));
}

TEST(QueryLiterals, RelativeTimes) {
    const int64_t now = 1'700'000'000'000;
    EXPECT_EQ(parse_time("now", now), now);
    EXPECT_EQ(parse_time("-1h", now), now - 3'600'000);
    EXPECT_EQ(parse_time("-30m", now), now - 1'800'000);
    EXPECT_EQ(parse_time("-7d", now), now - 604'800'000);
    EXPECT_EQ(parse_time("+1s", now), now + 1000);
    EXPECT_FALSE(parse_time("-1y", now));
}

TEST(QueryLiterals, IsoTimes) {
    EXPECT_EQ(parse_time("2023-11-14T22:13:20Z", 0), 1'700'000'000'000);
    EXPECT_EQ(parse_time("2023-11-14T22:13:20", 0), 1'700'000'000'000);
    EXPECT_EQ(parse_time("2023-11-14T22:13:20.250Z", 0), 1'700'000'000'250);
    EXPECT_EQ(parse_time("2023-11-15T00:13:20+02:00", 0), 1'700'000'000'000);
    EXPECT_EQ(parse_time("2023-11-14T21:13:20-0100", 0), 1'700'000'000'000);
    EXPECT_EQ(parse_time("2023-11-14T22:13", 0), 1'699'999'980'000);
    EXPECT_EQ(parse_time("2023-11-14", 0), 1'699'920'000'000);
    EXPECT_EQ(parse_time("1700000000000", 0), 1'700'000'000'000);
}

TEST(QueryLiterals, IsoTimesRejected) {
    EXPECT_FALSE(parse_time("2023-13-01", 0));
    EXPECT_FALSE(parse_time("2023-02-30", 0));
    EXPECT_FALSE(parse_time("2023-11-14T25:00", 0));
    EXPECT_FALSE(parse_time("2023-11-14T22:13:20+2", 0));
    EXPECT_FALSE(parse_time("2023-11-14X", 0));
    EXPECT_FALSE(parse_time("yesterday", 0));
}

TEST(QueryLiterals, FormatTime) {
    EXPECT_EQ(format_time(1'700'000'000'250), "2023-11-14T22:13:20.250Z");
    EXPECT_EQ(format_time(-1), "1969-12-31T23:59:59.999Z");
}

}  // namespace
}  // namespace pw::query
