#include <gtest/gtest.h>

#include <climits>
#include <fstream>
#include <regex>
#include <set>

#include "events/json.h"
#include "query/compiler.h"
#include "store/schema.h"
#include "store_test_helpers.h"

namespace pw::store {
namespace {

using testing::read_file;
using testing::TempDir;

// The query plan of a search, one detail line per step.
std::string query_plan(const std::string& path, const std::string& query) {
    query::SqlFilter filter = query::compile_query(query, 0);
    Database db = Database::open(path, SQLITE_OPEN_READONLY);
    Statement plan = db.prepare("EXPLAIN QUERY PLAN SELECT events.id FROM events WHERE " +
                                filter.where + " ORDER BY time, events.id");
    bind_parameters(plan, filter);
    std::string details;
    while (plan.step()) details += plan.column_text(3) + "\n";
    return details;
}

TEST(StoreSchema, NewStoreSettings) {
    TempDir dir;
    testing::write_events(dir.file("events.db"), {testing::numbered_event(0)});
    Database db = Database::open(dir.file("events.db"), SQLITE_OPEN_READONLY);
    EXPECT_EQ(db.query_int("PRAGMA user_version"), kSchemaVersion);
    EXPECT_EQ(db.query_text("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(db.query_int("PRAGMA auto_vacuum"), 2);
}

TEST(StoreSchema, CreatesParentDirectories) {
    TempDir dir;
    std::string path = dir.file("a/b/events.db");
    testing::write_events(path, {testing::numbered_event(0)});
    EXPECT_EQ(testing::count_rows(path), 1);
}

TEST(StoreSchema, ReopenAppends) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, {testing::numbered_event(0), testing::numbered_event(1)});
    testing::write_events(path, {testing::numbered_event(2)});
    EXPECT_EQ(testing::count_rows(path), 3);
    EXPECT_EQ(testing::count_rows(path, "SELECT max(id) FROM events"), 3);
}

TEST(StoreSchema, RoundTripKeepsEveryField) {
    TempDir dir;
    events::Event event = testing::numbered_event(1);
    event.device = "host-a";
    event.partial = true;
    event.process->unattributed_reason = "";
    event.target_ip = "2001:db8::7";
    events::Event disconnect = testing::numbered_event(2);
    disconnect.reason = events::EndReason::kTimeout;
    events::Event unattributed = testing::numbered_event(0);
    unattributed.process = events::Process{};
    unattributed.process->unattributed_reason = "socket closed";
    testing::write_events(dir.file("events.db"), {event, disconnect, unattributed});

    StoreReader reader = StoreReader::open(dir.file("events.db"));
    std::vector<StoredEvent> stored = testing::read_all(reader, {});
    ASSERT_EQ(stored.size(), 3u);
    std::set<std::string> written = {events::to_json_line(event), events::to_json_line(disconnect),
                                     events::to_json_line(unattributed)};
    for (const StoredEvent& s : stored) {
        EXPECT_EQ(written.count(events::to_json_line(s.event)), 1u)
            << events::to_json_line(s.event);
    }
}

TEST(StoreSchema, EventUidsAreUuids) {
    TempDir dir;
    std::vector<events::Event> events;
    for (uint64_t i = 0; i < 500; ++i) events.push_back(testing::numbered_event(i));
    testing::write_events(dir.file("events.db"), events);
    StoreReader reader = StoreReader::open(dir.file("events.db"));
    std::set<std::string> uids;
    const std::regex uuid_v7("[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
    for (const StoredEvent& s : testing::read_all(reader, {})) {
        EXPECT_TRUE(std::regex_match(s.event_uid, uuid_v7)) << s.event_uid;
        uids.insert(s.event_uid);
    }
    EXPECT_EQ(uids.size(), 500u);
}

TEST(StoreSchema, ForeignDatabaseRejected) {
    TempDir dir;
    std::string path = dir.file("other.db");
    {
        Database db = Database::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        db.execute("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me')");
    }
    testing::LogCapture log;
    StoreSink sink({.path = path});
    EXPECT_FALSE(sink.is_open());
    EXPECT_NE(log.text().find("another program"), std::string::npos) << log.text();
    EXPECT_EQ(testing::count_rows(path, "SELECT count(*) FROM notes"), 1);
    EXPECT_THROW(StoreReader::open(path), StoreError);
}

TEST(StoreSchema, NewerVersionRejected) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, {testing::numbered_event(0)});
    {
        Database db = Database::open(path, SQLITE_OPEN_READWRITE);
        db.execute("PRAGMA user_version = 99");
    }
    testing::LogCapture log;
    StoreSink sink({.path = path});
    sink.write(testing::numbered_event(1));
    EXPECT_FALSE(sink.is_open());
    EXPECT_EQ(sink.stats().lost, 1u);
    EXPECT_NE(log.text().find("schema version 99, newer"), std::string::npos) << log.text();
    try {
        StoreReader::open(path);
        ADD_FAILURE() << "the reader accepted schema version 99";
    } catch (const StoreError& error) {
        EXPECT_NE(std::string(error.what()).find("upgrade protowatch"), std::string::npos);
    }
    EXPECT_EQ(testing::count_rows(path), 1);
}

TEST(StoreSchema, NegativeVersionRejected) {
    // A version below 0 has no migration, and must not be used to index them.
    for (int version : {-1, -5, -100, INT32_MIN}) {
        SCOPED_TRACE(version);
        TempDir dir;
        std::string path = dir.file("events.db");
        testing::write_events(path, {testing::numbered_event(0)});
        {
            Database db = Database::open(path, SQLITE_OPEN_READWRITE);
            db.execute(("PRAGMA user_version = " + std::to_string(version)).c_str());
        }
        testing::LogCapture log;
        StoreSink sink({.path = path});
        sink.write(testing::numbered_event(1));
        EXPECT_FALSE(sink.is_open());
        EXPECT_NE(log.text().find("never writes"), std::string::npos) << log.text();
        EXPECT_THROW(StoreReader::open(path), StoreError);
        Database db = Database::open(path, SQLITE_OPEN_READONLY);
        EXPECT_EQ(db.query_int("PRAGMA user_version"), version);
        EXPECT_EQ(testing::count_rows(path), 1);
    }
}

TEST(StoreSchema, ForeignTriggerRejected) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, {testing::numbered_event(0)});
    {
        Database db = Database::open(path, SQLITE_OPEN_READWRITE);
        db.execute("CREATE TRIGGER wipe AFTER INSERT ON events BEGIN DELETE FROM events; END");
    }
    testing::LogCapture log;
    StoreSink sink({.path = path});
    sink.write(testing::numbered_event(1));
    EXPECT_FALSE(sink.is_open());
    EXPECT_EQ(sink.stats().lost, 1u);
    EXPECT_NE(log.text().find("trigger 'wipe'"), std::string::npos) << log.text();
    EXPECT_EQ(testing::count_rows(path), 1);
}

TEST(StoreSchema, CorruptFileKeptAndReported) {
    TempDir dir;
    std::string path = dir.file("events.db");
    std::string garbage(8192, 'x');
    std::ofstream(path, std::ios::binary) << garbage;
    testing::LogCapture log;
    {
        StoreSink sink({.path = path});
        sink.write(testing::numbered_event(0));
        EXPECT_FALSE(sink.is_open());
        EXPECT_EQ(sink.stats().lost, 1u);
    }
    EXPECT_NE(log.text().find(path + " is not an event store or is damaged"), std::string::npos)
        << log.text();
    EXPECT_NE(log.text().find("1 of 1 events were not stored"), std::string::npos) << log.text();
    EXPECT_EQ(read_file(path), garbage);
    try {
        StoreReader::open(path);
        ADD_FAILURE() << "the reader accepted a corrupt file";
    } catch (const StoreError& error) {
        EXPECT_NE(std::string(error.what()).find("is not an event store or is damaged"),
                  std::string::npos)
            << error.what();
    }
}

TEST(StoreSchema, MissingStoreForReading) {
    TempDir dir;
    try {
        StoreReader::open(dir.file("none.db"));
        ADD_FAILURE() << "the reader opened a missing file";
    } catch (const StoreError& error) {
        EXPECT_NE(std::string(error.what()).find("no event store at " + dir.file("none.db")),
                  std::string::npos);
    }
}

TEST(StoreSchema, QueriesUseIndexes) {
    TempDir dir;
    std::string path = dir.file("events.db");
    testing::write_events(path, {testing::numbered_event(0)});
    const std::pair<const char*, const char*> cases[] = {
        {"protocol = TLS", "event_protocols_by_protocol"},
        {"target_ip in 10.0.0.0/8", "events_by_target"},
        {"source_ip = 10.0.0.5", "events_by_source"},
        {"pid = 42", "events_by_pid"},
        {"process = curl", "events_by_process"},
        {"connection_uid = C1", "events_by_connection"},
        {"target_port = 443", "events_by_target_port"},
        {"time > 1700000000000", "events_by_time"},
    };
    for (const auto& [query, index] : cases) {
        SCOPED_TRACE(query);
        std::string plan = query_plan(path, query);
        EXPECT_NE(plan.find(index), std::string::npos) << plan;
    }
    // A full dump walks the time index, so rows stream in order without a sort.
    std::string dump_plan = query_plan(path, "sequence > 0 or sequence <= 0");
    EXPECT_EQ(dump_plan.find("TEMP B-TREE"), std::string::npos) << dump_plan;
}

}  // namespace
}  // namespace pw::store
