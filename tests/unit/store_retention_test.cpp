#include <gtest/gtest.h>

#include "store/retention.h"
#include "store_test_helpers.h"

namespace pw::store {
namespace {

using testing::TempDir;

TEST(StoreRetention, SizeRemovesOldestFirst) {
    TempDir dir;
    std::string path = dir.file("events.db");
    constexpr uint64_t kMaxBytes = 1'000'000;
    constexpr uint64_t kEvents = 20'000;
    testing::LogCapture log;
    StoreStats stats;
    {
        StoreSink sink({.path = path, .retention = {.max_bytes = kMaxBytes}, .batch_size = 500});
        for (uint64_t i = 0; i < kEvents; ++i) sink.write(testing::numbered_event(i));
        sink.flush();
        stats = sink.stats();
    }
    EXPECT_EQ(stats.committed, kEvents);
    EXPECT_EQ(stats.lost, 0u);
    EXPECT_GT(stats.removed_by_size, 0u);

    Database db = Database::open(path, SQLITE_OPEN_READONLY);
    EXPECT_LE(used_bytes(db), kMaxBytes);
    int64_t remaining = db.query_int("SELECT count(*) FROM events");
    EXPECT_EQ(static_cast<uint64_t>(remaining), kEvents - stats.removed_by_size);
    // The newest event is kept and the remaining ids are one contiguous run up to it.
    EXPECT_EQ(db.query_int("SELECT max(id) FROM events"), static_cast<int64_t>(kEvents));
    EXPECT_EQ(db.query_int("SELECT max(id) - min(id) + 1 FROM events"), remaining);
    // Protocols of removed events go with them.
    EXPECT_EQ(db.query_int("SELECT count(*) FROM event_protocols WHERE event_id NOT IN "
                           "(SELECT id FROM events)"),
              0);
    EXPECT_EQ(db.query_text("PRAGMA integrity_check"), "ok");
    EXPECT_NE(log.text().find("oldest events to stay under 1000000 bytes"), std::string::npos)
        << log.text();
}

TEST(StoreRetention, AgeRemovesEventsStoredLongAgo) {
    TempDir dir;
    std::string path = dir.file("events.db");
    int64_t now = 1'700'000'000'000;
    testing::LogCapture log;
    StoreStats stats;
    {
        StoreSink sink({.path = path, .retention = {.max_age_ms = 3'600'000}, .clock = [&now] {
                            return now;
                        }});
        for (uint64_t i = 0; i < 90; ++i) sink.write(testing::numbered_event(i));
        sink.flush();
        EXPECT_EQ(sink.stats().removed_by_age, 0u);

        now += 2 * 3'600'000;
        for (uint64_t i = 90; i < 120; ++i) sink.write(testing::numbered_event(i));
        sink.flush();
        stats = sink.stats();
    }
    EXPECT_EQ(stats.removed_by_age, 90u);
    EXPECT_EQ(testing::count_rows(path), 30);
    EXPECT_EQ(testing::count_rows(path, "SELECT min(id) FROM events"), 91);
    EXPECT_NE(log.text().find("removed 90 events stored more than 3600000 ms ago"),
              std::string::npos)
        << log.text();
}

TEST(StoreRetention, AgeCountsFromStoringNotPacketTime) {
    TempDir dir;
    std::string path = dir.file("events.db");
    // Packet times of 2023 are years before the system clock; the events must stay.
    StoreSink sink({.path = path, .retention = {.max_age_ms = 60'000}});
    for (uint64_t i = 0; i < 30; ++i) sink.write(testing::numbered_event(i));
    sink.flush();
    EXPECT_EQ(sink.stats().removed_by_age, 0u);
    EXPECT_EQ(testing::count_rows(path), 30);
}

TEST(StoreRetention, NoLimitsKeepEverything) {
    TempDir dir;
    std::string path = dir.file("events.db");
    int64_t now = 1'700'000'000'000;
    StoreSink sink({.path = path, .clock = [&now] { return now; }});
    for (uint64_t i = 0; i < 50; ++i) sink.write(testing::numbered_event(i));
    sink.flush();
    now += 365LL * 86'400'000;
    sink.write(testing::numbered_event(50));
    sink.flush();
    StoreStats stats = sink.stats();
    EXPECT_EQ(stats.removed_by_age + stats.removed_by_size, 0u);
    EXPECT_EQ(testing::count_rows(path), 51);
}

}  // namespace
}  // namespace pw::store
