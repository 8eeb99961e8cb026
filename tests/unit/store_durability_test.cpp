#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "store/audit_store.h"
#include "store/schema.h"
#include "store_test_helpers.h"

namespace pw::store {
namespace {

using testing::TempDir;

// A forked writer: it writes numbered events to a store and, after every flush, reports the
// number of committed events on a pipe. After `max_events` it stops writing and waits to be
// killed; the child never returns into the test framework.
class WriterProcess {
  public:
    WriterProcess(const std::string& path, uint64_t flush_every, uint64_t max_events = UINT64_MAX) {
        int fds[2];
        if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            close(fds[0]);
            run(path, flush_every, max_events, fds[1]);
        }
        close(fds[1]);
        reports_ = fds[0];
    }
    ~WriterProcess() {
        if (pid_ > 0) kill_now();
        close(reports_);
    }

    // Reads reports until one is at least `count`; returns the last report, 0 on EOF.
    uint64_t wait_for(uint64_t count) {
        while (last_ < count) {
            if (read(reports_, &last_, sizeof last_) != sizeof last_) return 0;
        }
        return last_;
    }

    // Kills the writer with SIGKILL and returns the highest count it reported.
    uint64_t kill_now() {
        ::kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        uint64_t value = 0;
        while (read(reports_, &value, sizeof value) == sizeof value) last_ = value;
        return last_;
    }

  private:
    [[noreturn]] static void run(const std::string& path, uint64_t flush_every, uint64_t max_events,
                                 int out) {
        StoreSettings settings{
            .path = path, .batch_size = 64, .commit_interval = std::chrono::milliseconds(5)};
        StoreSink sink(settings);
        for (uint64_t i = 0; i < max_events; ++i) {
            sink.write(testing::numbered_event(i));
            if (i % flush_every == flush_every - 1) {
                sink.flush();
                uint64_t committed = sink.stats().committed;
                if (write(out, &committed, sizeof committed) != sizeof committed) _exit(1);
            }
        }
        while (true) pause();
    }

    pid_t pid_ = -1;
    int reports_ = -1;
    uint64_t last_ = 0;
};

TEST(StoreDurability, KillKeepsFlushedEvents) {
    // Each round kills the writer at a different point of its insert and commit cycle.
    for (uint64_t round = 0; round < 4; ++round) {
        SCOPED_TRACE(round);
        TempDir dir;
        std::string path = dir.file("events.db");
        uint64_t reported = 0;
        {
            WriterProcess writer(path, 37 + round * 11);
            ASSERT_GT(writer.wait_for(2000 + round * 1500), 0u);
            reported = writer.kill_now();
        }
        ASSERT_GT(reported, 0u);
        Database db = Database::open(path, SQLITE_OPEN_READWRITE);
        EXPECT_EQ(db.query_text("PRAGMA integrity_check"), "ok");
        int64_t stored = db.query_int("SELECT count(*) FROM events");
        EXPECT_GE(static_cast<uint64_t>(stored), reported);
        // Every statistics event committed with its two protocols.
        EXPECT_EQ(db.query_int("SELECT count(*) FROM event_protocols"),
                  2 * db.query_int("SELECT count(*) FROM events WHERE activity_id = 3"));
    }
}

TEST(StoreDurability, ReadWhileAnotherProcessWrites) {
    TempDir dir;
    std::string path = dir.file("events.db");
    constexpr uint64_t kEvents = 30'000;
    WriterProcess writer(path, 50, kEvents);
    ASSERT_GT(writer.wait_for(200), 0u);

    uint64_t previous = 0;
    uint64_t flushed = 0;
    while (flushed < kEvents) {
        flushed = writer.wait_for(std::min(previous + 1, kEvents));
        ASSERT_GT(flushed, 0u) << "the writer stopped reporting";
        StoreReader reader = StoreReader::open(path);
        std::vector<StoredEvent> events = testing::read_all(reader, {});
        EXPECT_GE(events.size(), flushed);
        EXPECT_GE(events.size(), previous);
        previous = events.size();
        std::vector<StoredEvent> tls =
            testing::read_all(reader, query::compile_query("protocol = TLS and pid = 1001", 0));
        EXPECT_FALSE(tls.empty());
    }
    EXPECT_EQ(previous, kEvents);
    writer.kill_now();
}

// Counts the events of the store at `path` with Python's sqlite3 module: another program
// that reads the store and closes it, which deletes the -wal file when no other process
// has the store open. Returns -1 when Python is missing.
int64_t count_in_other_process(const std::string& path) {
    std::string command =
        "python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "print(c.execute(\"select count(*) from events\").fetchone()[0]); "
        "c.close()' " +
        path + " 2>/dev/null";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return -1;
    long long count = -1;
    if (fscanf(pipe, "%lld", &count) != 1) count = -1;
    pclose(pipe);
    return count;
}

// The agent opens its store a second time to record an audit event, and reads it to serve
// queries. Those opens must keep the writer's locks: without them, another program's read
// deletes the -wal file that the writer goes on committing to, and those events are lost.
TEST(StoreDurability, SecondOpenKeepsTheWritersLocks) {
    TempDir dir;
    std::string path = dir.file("events.db");
    StoreSettings settings{.path = path, .batch_size = 8};
    StoreSink sink(settings);
    ASSERT_TRUE(sink.is_open());
    for (uint64_t i = 0; i < 30; ++i) sink.write(testing::numbered_event(i));
    sink.flush();
    if (count_in_other_process(path) != 30) GTEST_SKIP() << "python3 with sqlite3 is missing";

    events::AuditEvent audit;
    audit.action = "enable";
    audit.actor_user = "root";
    record_audit_event(path, audit);
    {
        StoreReader reader = StoreReader::open(path);
        EXPECT_EQ(testing::read_all(reader, {}).size(), 30u);
    }
    check_store_file(path);

    EXPECT_EQ(count_in_other_process(path), 30);
    EXPECT_TRUE(std::filesystem::exists(path + "-wal"));
    for (uint64_t i = 30; i < 60; ++i) sink.write(testing::numbered_event(i));
    sink.flush();
    EXPECT_EQ(sink.stats().committed, 60u);
    EXPECT_EQ(count_in_other_process(path), 60);
}

TEST(StoreDurability, UnwritablePathCountsLoss) {
    TempDir dir;
    // A regular file where the store's directory should be: no user, root included, can
    // create a directory there.
    std::ofstream(dir.file("file")) << "x";
    std::string path = dir.file("file/events.db");
    testing::LogCapture log;
    {
        StoreSink sink({.path = path});
        EXPECT_FALSE(sink.is_open());
        for (uint64_t i = 0; i < 10; ++i) sink.write(testing::numbered_event(i));
        sink.flush();
        EXPECT_EQ(sink.stats().lost, 10u);
        EXPECT_EQ(sink.stats().committed, 0u);
    }
    std::string text = log.text();
    EXPECT_NE(text.find("cannot create the directory " + dir.file("file")), std::string::npos)
        << text;
    EXPECT_NE(text.find("--no-store"), std::string::npos) << text;
    EXPECT_NE(text.find("10 of 10 events were not stored"), std::string::npos) << text;
}

TEST(StoreDurability, ReadOnlyDirectoryCountsLoss) {
    if (geteuid() == 0) GTEST_SKIP() << "root writes into read-only directories";
    TempDir dir;
    std::filesystem::create_directory(dir.path() / "locked");
    std::filesystem::permissions(dir.path() / "locked", std::filesystem::perms::owner_read |
                                                            std::filesystem::perms::owner_exec);
    testing::LogCapture log;
    StoreSink sink({.path = dir.file("locked/events.db")});
    sink.write(testing::numbered_event(0));
    EXPECT_FALSE(sink.is_open());
    EXPECT_EQ(sink.stats().lost, 1u);
    EXPECT_NE(log.text().find(dir.file("locked/events.db")), std::string::npos) << log.text();
    std::filesystem::permissions(dir.path() / "locked", std::filesystem::perms::owner_all);
}

TEST(StoreDurability, OtherUserReadsClosedStore) {
    if (geteuid() != 0) GTEST_SKIP() << "switching to another user needs root";
    TempDir dir;
    std::filesystem::permissions(
        dir.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                        std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                        std::filesystem::perms::others_exec);
    std::string path = dir.file("events.db");
    testing::write_events(path, {testing::numbered_event(0), testing::numbered_event(1)});

    // The child becomes "nobody", who can read the files but not write the directory.
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
        try {
            StoreReader reader = StoreReader::open(path);
            _exit(testing::read_all(reader, {}).size() == 2 ? 0 : 1);
        } catch (const std::exception&) {
            _exit(2);
        }
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong count, 2: open failed, 3: setuid failed";
}

TEST(StoreDurability, FullDiskCountsLoss) {
    TempDir dir;
    std::string path = dir.file("events.db");
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // A file size limit makes writes past it fail as they do on a full disk. The signal
        // that the kernel raises then is ignored, so the write returns an error instead.
        signal(SIGXFSZ, SIG_IGN);
        rlimit limit{512 * 1024, 512 * 1024};
        setrlimit(RLIMIT_FSIZE, &limit);
        StoreStats stats;
        {
            StoreSink sink({.path = path, .batch_size = 200});
            for (uint64_t i = 0; i < 20'000; ++i) sink.write(testing::numbered_event(i));
            sink.flush();
            stats = sink.stats();
        }
        ssize_t written = write(fds[1], &stats, sizeof stats);
        _exit(written == sizeof stats ? 0 : 1);
    }
    close(fds[1]);
    StoreStats stats;
    ASSERT_EQ(read(fds[0], &stats, sizeof stats), static_cast<ssize_t>(sizeof stats));
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << "the writer crashed";
    EXPECT_EQ(WEXITSTATUS(status), 0);

    EXPECT_EQ(stats.written, 20'000u);
    EXPECT_GT(stats.committed, 0u);
    EXPECT_GT(stats.lost, 0u);
    EXPECT_EQ(stats.committed + stats.lost, stats.written);
    Database db = Database::open(path, SQLITE_OPEN_READWRITE);
    EXPECT_EQ(db.query_text("PRAGMA integrity_check"), "ok");
    EXPECT_GE(static_cast<uint64_t>(db.query_int("SELECT count(*) FROM events")), stats.committed);
}

}  // namespace
}  // namespace pw::store
