// Opening a store: a file that is not an event store stays as it was, a read that meets damage
// names the store, and a reader that may not write the directory still reads a closed store.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "agent/store_access.h"
#include "store/event_store.h"
#include "store/schema.h"
#include "store_test_helpers.h"

namespace pw::store {
namespace {

using testing::read_file;
using testing::TempDir;

bool exists(const std::string& path) { return std::filesystem::exists(path); }

struct stat stat_of(const std::string& path) {
    struct stat info {};
    EXPECT_EQ(stat(path.c_str(), &info), 0) << path;
    return info;
}

// An SQLite database of another program, in rollback-journal mode unless `wal`. Its last
// connection has closed, so no -wal or -shm file remains.
std::string write_foreign_database(const TempDir& dir, bool wal = false) {
    std::string path = dir.file(wal ? "other-wal.db" : "other.db");
    Database db = Database::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (wal) db.execute("PRAGMA journal_mode = WAL");
    db.execute("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me')");
    return path;
}

std::string error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const StoreError& error) {
        return error.what();
    }
    return "";
}

// Runs `action` in a child that may not write `dir`: as "nobody" when the test runs as root,
// which writes any directory, else with the directory made read-only. Returns the child's exit
// status.
int run_without_directory_write(const TempDir& dir, const std::function<int()>& action) {
    namespace fs = std::filesystem;
    fs::permissions(dir.path(), fs::perms::owner_read | fs::perms::owner_exec |
                                    fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    pid_t child = fork();
    if (child == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(100);
        _exit(action());
    }
    int status = 0;
    waitpid(child, &status, 0);
    fs::permissions(dir.path(), fs::perms::owner_write, fs::perm_options::add);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<events::Event> numbered_events(uint64_t count) {
    std::vector<events::Event> events;
    for (uint64_t i = 0; i < count; ++i) events.push_back(testing::numbered_event(i));
    return events;
}

TEST(StoreOpen, ForeignDatabaseLeftUnchanged) {
    TempDir dir;
    std::string path = write_foreign_database(dir);
    std::string before = read_file(path);

    std::string error = error_of([&] { EventStore::open(path, RetentionPolicy{}); });
    EXPECT_NE(error.find(path + " is an SQLite database of another program"), std::string::npos)
        << error;
    // The switch to WAL would rewrite bytes 18 and 19 of the header.
    EXPECT_EQ(read_file(path), before);
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

TEST(StoreOpen, ForeignWalDatabaseGainsNoFiles) {
    TempDir dir;
    std::string path = write_foreign_database(dir, true);
    ASSERT_FALSE(exists(path + "-wal"));
    std::string before = read_file(path);

    std::string error = error_of([&] { check_store_file(path); });
    EXPECT_NE(error.find("another program"), std::string::npos) << error;
    EXPECT_EQ(read_file(path), before);
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

TEST(StoreOpen, TextFileLeftUnchanged) {
    TempDir dir;
    std::string path = dir.file("notes.txt");
    std::ofstream(path) << "not a database\n";

    std::string error = error_of([&] { EventStore::open(path, RetentionPolicy{}); });
    EXPECT_NE(error.find(path + " is not an event store or is damaged"), std::string::npos)
        << error;
    EXPECT_NE(error.find("move it aside"), std::string::npos) << error;
    EXPECT_EQ(read_file(path), "not a database\n");
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

TEST(StoreOpen, ShortFileRejected) {
    TempDir dir;
    std::string path = dir.file("short.db");
    std::ofstream(path) << "SQLite";
    std::string error = error_of([&] { check_store_file(path); });
    EXPECT_NE(error.find("is not an event store or is damaged"), std::string::npos) << error;
}

// New events would join a store damaged inside, where reads stop at the damage.
TEST(StoreOpen, DamagedPageRejected) {
    TempDir dir;
    std::string path = dir.file("events.db");
    std::vector<events::Event> events;
    for (uint64_t i = 0; i < 3000; ++i) events.push_back(testing::numbered_event(i));
    testing::write_events(path, events);
    const auto size = std::filesystem::file_size(path);
    ASSERT_GT(size, 16u * 4096);
    {
        std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
        const std::string garbage(4096, '\xab');
        file.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    const std::string before = read_file(path);
    std::string error = error_of([&] { check_store_file(path); });
    EXPECT_NE(error.find("is not an event store or is damaged"), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
    EXPECT_EQ(read_file(path), before);
}

TEST(StoreOpen, DirectoryRejected) {
    TempDir dir;
    std::string error = error_of([&] { check_store_file(dir.path().string()); });
    EXPECT_NE(error.find("is a directory"), std::string::npos) << error;
}

TEST(StoreOpen, MissingAndEmptyFilesAccepted) {
    TempDir dir;
    EXPECT_NO_THROW(check_store_file(dir.file("missing.db")));
    std::string empty = dir.file("empty.db");
    std::ofstream(empty).close();
    EXPECT_NO_THROW(check_store_file(empty));
    testing::write_events(empty, {testing::numbered_event(0)});
    EXPECT_EQ(testing::count_rows(empty), 1);
}

TEST(StoreOpen, StoreWithCommitsInWalAccepted) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, {testing::numbered_event(0)});
    // A writer that stays open keeps its commits in the -wal file until a checkpoint.
    std::unique_ptr<EventStore> writer = EventStore::open(path, RetentionPolicy{});
    writer->database().execute("PRAGMA wal_autocheckpoint = 0");
    writer->append(testing::numbered_event(1));
    writer->commit();
    ASSERT_TRUE(wal_may_hold_commits(path));

    EXPECT_NO_THROW(check_store_file(path));
    EXPECT_NO_THROW(EventStore::open(path, RetentionPolicy{}));
    EXPECT_EQ(testing::count_rows(path), 2);
}

TEST(StoreOpen, RestrictAccessRejectsForeignFile) {
    TempDir dir;
    std::string path = write_foreign_database(dir);
    ASSERT_EQ(chmod(path.c_str(), 0664), 0);
    struct stat before = stat_of(path);

    try {
        agent::restrict_store_access(path, "protowatch-reader");
        ADD_FAILURE() << "a database of another program was given to the reader group";
    } catch (const StoreError& error) {
        EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
    }
    struct stat after = stat_of(path);
    EXPECT_EQ(after.st_mode, before.st_mode);
    EXPECT_EQ(after.st_gid, before.st_gid);
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

TEST(StoreOpen, RestrictAccessRejectsTextFile) {
    TempDir dir;
    std::string path = dir.file("notes.txt");
    std::ofstream(path) << "not a database\n";
    ASSERT_EQ(chmod(path.c_str(), 0664), 0);

    EXPECT_THROW(agent::restrict_store_access(path, "protowatch-reader"), StoreError);
    EXPECT_EQ(stat_of(path).st_mode & 0777, 0664u);
    EXPECT_EQ(read_file(path), "not a database\n");
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

TEST(StoreOpen, RestrictAccessRejectsOtherUsersFile) {
    if (getuid() != 0) GTEST_SKIP() << "needs root to give the file to another user";
    TempDir dir;
    std::string path = dir.file("events.db");
    std::ofstream(path).close();  // empty: a store with no events yet
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);
    ASSERT_EQ(chmod(path.c_str(), 0644), 0);

    try {
        agent::restrict_store_access(path, "protowatch-reader");
        FAIL() << "another user's file was taken as the agent's store";
    } catch (const StoreError& error) {
        EXPECT_NE(std::string(error.what()).find("could change the events"), std::string::npos);
    }
    EXPECT_EQ(stat_of(path).st_uid, 65534u);
    EXPECT_EQ(stat_of(path).st_mode & 0777, 0644u);
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

TEST(StoreOpen, RestrictAccessRejectsLinkToOtherUsersFile) {
    if (getuid() != 0) GTEST_SKIP() << "needs root to give the file to another user";
    TempDir dir;
    std::string target = dir.file("theirs.db");
    std::ofstream(target).close();
    ASSERT_EQ(chown(target.c_str(), 65534, 65534), 0);
    std::string link = dir.file("events.db");
    ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);

    EXPECT_THROW(agent::restrict_store_access(link, "protowatch-reader"), StoreError);
    EXPECT_EQ(stat_of(target).st_uid, 65534u);
    EXPECT_FALSE(exists(link + "-wal"));
}

TEST(StoreOpen, FifoRejected) {
    TempDir dir;
    std::string path = dir.file("events.db");
    ASSERT_EQ(mkfifo(path.c_str(), 0644), 0);
    EXPECT_THROW(check_store_file(path), StoreError);
    EXPECT_THROW(agent::restrict_store_access(path, "protowatch-reader"), StoreError);
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

// A reader that opened a pipe would wait for a writer, so dump, search and report would hang.
TEST(StoreRead, FifoRejectedAtOnce) {
    TempDir dir;
    std::string path = dir.file("events.db");
    ASSERT_EQ(mkfifo(path.c_str(), 0644), 0);
    std::string error = error_of([&] { StoreReader::open(path); });
    EXPECT_NE(error.find("is not a regular file"), std::string::npos) << error;
}

TEST(StoreOpen, RestrictAccessKeepsStoresWorking) {
    TempDir dir;
    std::string fresh = dir.file("new/events.db");
    agent::restrict_store_access(fresh, "protowatch-reader");
    EXPECT_EQ(stat_of(fresh).st_mode & 0777, 0640u);
    testing::write_events(fresh, {testing::numbered_event(0)});

    std::string existing = dir.file("events.db");
    testing::write_events(existing, {testing::numbered_event(0)});
    agent::restrict_store_access(existing, "protowatch-reader");
    EXPECT_EQ(stat_of(existing).st_mode & 0777, 0640u);
    testing::write_events(existing, {testing::numbered_event(1)});
    EXPECT_EQ(testing::count_rows(existing), 2);
}

TEST(StoreRead, DamageFoundWhileReadingNamesStore) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, numbered_events(3000));
    {
        // Page 21 of the file contains event rows, past the schema that the open reads.
        std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(4096 * 20 + 50);
        file << std::string(2000, '\xab');
    }

    StoreReader reader = StoreReader::open(path);
    EventCursor cursor = reader.select({});
    StoredEvent event;
    std::string error = error_of([&] {
        while (cursor.next(event)) {
        }
    });
    EXPECT_NE(error.find("event store " + path + " is damaged"), std::string::npos) << error;
    EXPECT_NE(error.find("move it aside"), std::string::npos) << error;
}

TEST(StoreRead, ClosedStoreWithoutWalFilesRead) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, numbered_events(3));
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    ASSERT_EQ(chmod(path.c_str(), 0644), 0);

    int status = run_without_directory_write(dir, [&] {
        try {
            StoreReader reader = StoreReader::open(path);
            return testing::read_all(reader, {}).size() == 3 ? 0 : 1;
        } catch (const std::exception& error) {
            std::fprintf(stderr, "%s\n", error.what());
            return 2;
        }
    });
    EXPECT_EQ(status, 0) << "1: wrong count, 2: open failed, 100: setuid failed";
    EXPECT_FALSE(exists(path + "-wal"));
    EXPECT_FALSE(exists(path + "-shm"));
}

TEST(StoreRead, WalCommitsWithoutShmGiveAdvice) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, numbered_events(3));
    {
        // Commits left in the -wal file, as a writer killed before its checkpoint leaves them.
        std::unique_ptr<EventStore> writer = EventStore::open(path, RetentionPolicy{});
        writer->database().execute("PRAGMA wal_autocheckpoint = 0");
        writer->append(testing::numbered_event(3));
        writer->commit();
        std::filesystem::copy_file(path, dir.file("copy.db"));
        std::filesystem::copy_file(path + "-wal", dir.file("copy.db-wal"));
    }
    std::string copy = dir.file("copy.db");
    ASSERT_TRUE(wal_may_hold_commits(copy));
    ASSERT_FALSE(exists(copy + "-shm"));
    ASSERT_EQ(chmod(copy.c_str(), 0644), 0);
    ASSERT_EQ(chmod((copy + "-wal").c_str(), 0644), 0);

    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    int status = run_without_directory_write(dir, [&] {
        close(fds[0]);
        std::string error = error_of([&] { StoreReader::open(copy); });
        bool written =
            write(fds[1], error.data(), error.size()) == static_cast<ssize_t>(error.size());
        return written ? 0 : 1;
    });
    close(fds[1]);
    std::string error;
    char buffer[512];
    ssize_t n = 0;
    while ((n = read(fds[0], buffer, sizeof buffer)) > 0) error.append(buffer, n);
    close(fds[0]);

    EXPECT_EQ(status, 0);
    EXPECT_NE(error.find("cannot read the event store " + copy), std::string::npos) << error;
    EXPECT_NE(error.find("-wal and -shm files"), std::string::npos) << error;
    EXPECT_NE(error.find("as root once"), std::string::npos) << error;
}

// root reading another user's closed store may make its -wal and -shm files again. SQLite
// gives them to the database file's owner (its unix VFS does so when running as root), so
// the owner's writer still opens the store afterwards.
TEST(StoreRead, RootReadLeavesWalFilesToOwner) {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to give the store to another user";
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, numbered_events(3));
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    ASSERT_EQ(chown(dir.path().c_str(), 65534, 65534), 0);
    ASSERT_EQ(chown(path.c_str(), 65534, 65534), 0);

    StoreReader reader = StoreReader::open(path);
    EXPECT_EQ(testing::read_all(reader, {}).size(), 3u);
    for (const std::string& file : {path + "-wal", path + "-shm"}) {
        if (!exists(file)) continue;
        EXPECT_EQ(stat_of(file).st_uid, 65534u) << file;
    }

    pid_t child = fork();
    if (child == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(100);
        try {
            std::unique_ptr<EventStore> writer = EventStore::open(path, RetentionPolicy{});
            writer->append(testing::numbered_event(3));
            writer->commit();
        } catch (const std::exception& error) {
            std::fprintf(stderr, "%s\n", error.what());
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: the owner could not write, 100: setuid failed";
}

}  // namespace
}  // namespace pw::store
