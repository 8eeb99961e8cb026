#include "agent/store_writer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "store/sqlite.h"
#include "store_test_helpers.h"

namespace pw::agent {
namespace {

using store::testing::numbered_event;
using store::testing::TempDir;

StoreWriterSettings small_writer(const std::string& path) {
    StoreWriterSettings settings;
    settings.store.path = path;
    settings.store.batch_size = 10;
    settings.store.commit_interval = std::chrono::milliseconds(10);
    settings.max_held = 20;
    settings.retry_interval = std::chrono::milliseconds(20);
    return settings;
}

// While another process holds the store locked, events wait up to max_held and later ones
// are counted lost.
TEST(StoreWriter, CountsLostBeyondMaxHeld) {
    TempDir dir;
    StoreWriter writer(small_writer(dir.file("events.db")));
    writer.write(numbered_event(0));
    writer.flush();
    ASSERT_EQ(writer.stats().store.committed, 1u);
    {
        store::Database lock = store::Database::open(dir.file("events.db"), SQLITE_OPEN_READWRITE);
        lock.execute("BEGIN EXCLUSIVE");
        for (uint64_t i = 1; i <= 50; ++i) writer.write(numbered_event(i));
        EXPECT_EQ(writer.stats().store.lost, 30u);
        lock.execute("COMMIT");
    }
    writer.close();
    EXPECT_EQ(writer.stats().store.committed, 21u);
    EXPECT_EQ(writer.stats().store.lost, 30u);
}

// At the stop the capture has ended, so a burst larger than max_held waits for room and is
// stored whole.
TEST(StoreWriter, StopBurstWaitsForRoom) {
    TempDir dir;
    StoreWriter writer(small_writer(dir.file("events.db")));
    writer.wait_when_full();
    for (uint64_t i = 0; i < 3000; ++i) writer.write(numbered_event(i));
    writer.close();
    EXPECT_EQ(writer.stats().store.lost, 0u);
    EXPECT_EQ(writer.stats().store.committed, 3000u);
}

}  // namespace
}  // namespace pw::agent
