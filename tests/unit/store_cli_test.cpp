// The dump and search commands and the store option of analyze, run as the real binary.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "detect/protocols.h"
#include "events/json.h"
#include "query/literals.h"
#include "store/audit_store.h"
#include "store_test_helpers.h"

namespace pw::store {
namespace {

using testing::connection_event;
using testing::read_file;
using testing::TempDir;

struct CommandResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

std::string shell_quote(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) {
        if (c == '\'') {
            quoted += "'\\''";
        } else {
            quoted += c;
        }
    }
    return quoted + "'";
}

// Runs protowatch with `arguments` (each quoted for the shell).
CommandResult protowatch(const TempDir& dir, const std::vector<std::string>& arguments) {
    std::string command = PROTOWATCH_BINARY;
    for (const std::string& argument : arguments) command += " " + shell_quote(argument);
    command += " 2>" + shell_quote(dir.file("stderr.txt"));
    CommandResult run;
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) return run;
    char buffer[4096];
    size_t n = 0;
    while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) run.out.append(buffer, n);
    int status = pclose(pipe);
    run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    run.err = read_file(dir.file("stderr.txt"));
    return run;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> lines;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    return lines;
}

std::vector<std::string> connection_uids(const std::string& text) {
    std::vector<std::string> uids;
    for (const auto& line : json_lines(text)) uids.push_back(line["connection_uid"]);
    return uids;
}

class StoreCli : public ::testing::Test {
  protected:
    void SetUp() override { store_ = dir_.file("events.db"); }

    void write_fixture() {
        std::vector<events::Event> events;
        for (uint64_t i = 0; i < 30; ++i) events.push_back(testing::numbered_event(i));
        auto smbd = connection_event(events::Activity::kConnect, 1'700'000'000'500, "smbd-1");
        smbd.process = events::Process{77, "smbd", "/usr/sbin/smbd", "smbd -F", 0, "root", ""};
        events.push_back(smbd);
        testing::write_events(store_, events);
    }

    CommandResult run(std::vector<std::string> arguments) {
        arguments.insert(arguments.begin() + 1, {"--store", store_});
        return protowatch(dir_, arguments);
    }

    TempDir dir_;
    std::string store_;
};

TEST_F(StoreCli, DumpAll) {
    write_fixture();
    CommandResult result = run({"dump"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::vector<nlohmann::json> lines = json_lines(result.out);
    ASSERT_EQ(lines.size(), 31u);
    for (const auto& line : lines) {
        EXPECT_EQ(line["type_id"], 8007);
        EXPECT_TRUE(line.contains("event_uid"));
        EXPECT_NO_THROW(events::from_json(line));
    }
    // Ordered by time.
    EXPECT_TRUE(std::is_sorted(lines.begin(), lines.end(), [](const auto& a, const auto& b) {
        return a["time"].template get<int64_t>() < b["time"].template get<int64_t>();
    }));
}

TEST_F(StoreCli, DumpByPid) {
    write_fixture();
    CommandResult result = run({"dump", "--pid", "1003"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::vector<nlohmann::json> lines = json_lines(result.out);
    // numbered_event gives pid 1000 + i % 7, so i = 3, 10, 17, 24.
    ASSERT_EQ(lines.size(), 4u);
    for (const auto& line : lines) EXPECT_EQ(line["process"]["pid"], 1003);
}

TEST_F(StoreCli, DumpByProcess) {
    write_fixture();
    CommandResult result = run({"dump", "--process", "smbd"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(connection_uids(result.out), std::vector<std::string>{"smbd-1"});
    EXPECT_EQ(run({"dump", "--process", "smb"}).out, "");
}

TEST_F(StoreCli, DumpByConnection) {
    write_fixture();
    CommandResult result = run({"dump", "--connection", "C4"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::vector<nlohmann::json> lines = json_lines(result.out);
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_EQ(lines[0]["id"], 1);
    EXPECT_EQ(lines[1]["id"], 3);
    EXPECT_EQ(lines[2]["id"], 2);
}

TEST_F(StoreCli, DumpSinceUntil) {
    int64_t now = query::now_ms();
    testing::write_events(
        store_, {connection_event(events::Activity::kConnect, now - 7'200'000, "two-hours"),
                 connection_event(events::Activity::kConnect, now - 1'800'000, "half-hour"),
                 connection_event(events::Activity::kConnect, now - 60'000, "minute")});
    EXPECT_EQ(connection_uids(run({"dump", "--since", "-1h"}).out),
              (std::vector<std::string>{"half-hour", "minute"}));
    EXPECT_EQ(connection_uids(run({"dump", "--until", "-1h"}).out),
              (std::vector<std::string>{"two-hours"}));
    EXPECT_EQ(connection_uids(run({"dump", "--since", "-45m", "--until", "-10m"}).out),
              (std::vector<std::string>{"half-hour"}));
    std::string iso = query::format_time(now - 3'600'000);
    EXPECT_EQ(connection_uids(run({"dump", "--since", iso}).out),
              (std::vector<std::string>{"half-hour", "minute"}));
}

TEST_F(StoreCli, InvalidSinceRejected) {
    write_fixture();
    CommandResult result = run({"dump", "--since", "yesterday"});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("--since: invalid time 'yesterday'"), std::string::npos)
        << result.err;
}

TEST_F(StoreCli, MissingStore) {
    CommandResult result = run({"dump"});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("no event store at " + store_), std::string::npos) << result.err;
}

TEST_F(StoreCli, EmptyStorePathRejected) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    const std::vector<std::vector<std::string>> commands = {
        {"dump", "--store", ""},
        {"search", "--store", "", "target_port = 443"},
        {"report", "--store", "", "-o", dir_.file("report.html")},
        {"analyze", "--store", "", capture},
        {"agent", "--store", ""},
        {"fleet", "serve", "--store", ""},
    };
    for (const auto& arguments : commands) {
        CommandResult result = protowatch(dir_, arguments);
        EXPECT_EQ(result.exit_code, 2) << arguments.front() << ": " << result.err;
        EXPECT_NE(result.err.find("--store: the store path is empty"), std::string::npos)
            << arguments.front() << ": " << result.err;
    }
}

TEST_F(StoreCli, TinyRetentionRejected) {
    // A limit missing its unit would delete the events of earlier runs too.
    write_fixture();
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    const std::vector<std::vector<std::string>> options = {{"--store-max-size", "1"},
                                                           {"--store-max-size", "1MB"},
                                                           {"--store-max-age", "1ms"},
                                                           {"--store-max-age", "30s"}};
    for (const auto& option : options) {
        CommandResult result = run({"analyze", option[0], option[1], capture});
        EXPECT_EQ(result.exit_code, 2) << option[0] << " " << option[1] << ": " << result.err;
        EXPECT_NE(result.err.find(option[0] + ": '" + option[1] + "' is below"), std::string::npos)
            << result.err;
    }
    CommandResult dump = run({"dump"});
    EXPECT_EQ(dump.exit_code, 0) << dump.err;
    EXPECT_FALSE(dump.out.empty());
}

TEST_F(StoreCli, StoreWithoutEventsMentionsAgent) {
    // The agent creates its store file empty and the tables with its first events.
    std::ofstream(store_).close();
    CommandResult result = run({"dump"});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find(store_ + " holds no events yet"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("an agent that records to it"), std::string::npos) << result.err;
}

TEST_F(StoreCli, DamageFoundWhileReadingNamesStore) {
    std::vector<events::Event> events;
    for (uint64_t i = 0; i < 3000; ++i) events.push_back(testing::numbered_event(i));
    testing::write_events(store_, events);
    {
        // Page 21 of the file contains event rows, past the schema that the open reads.
        std::fstream file(store_, std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(4096 * 20 + 50);
        file << std::string(2000, '\xab');
    }
    for (const std::vector<std::string>& arguments :
         {std::vector<std::string>{"dump"}, std::vector<std::string>{"search", "time > 0"},
          std::vector<std::string>{"report", "-o", dir_.file("report.html")}}) {
        CommandResult result = run(arguments);
        EXPECT_EQ(result.exit_code, 1) << arguments.front();
        EXPECT_NE(result.err.find("event store " + store_ + " is damaged"), std::string::npos)
            << arguments.front() << ": " << result.err;
        EXPECT_NE(result.err.find("move it aside"), std::string::npos)
            << arguments.front() << ": " << result.err;
    }
}

TEST_F(StoreCli, AnalyzeLeavesForeignDatabaseUnchanged) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    {
        Database db = Database::open(store_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        db.execute("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me')");
    }
    std::string before = read_file(store_);
    CommandResult analyze = protowatch(dir_, {"analyze", "-q", "--store", store_, capture});
    EXPECT_EQ(analyze.exit_code, 3) << analyze.err;
    EXPECT_NE(analyze.err.find(store_ + " is an SQLite database of another program"),
              std::string::npos)
        << analyze.err;
    EXPECT_EQ(read_file(store_), before);
    EXPECT_FALSE(std::filesystem::exists(store_ + "-wal"));
    EXPECT_FALSE(std::filesystem::exists(store_ + "-shm"));
}

TEST_F(StoreCli, ReportLeavesForeignWalDatabaseUnchanged) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    {
        Database db = Database::open(store_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        db.execute("PRAGMA journal_mode = WAL");
        db.execute("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('keep me')");
    }
    std::string before = read_file(store_);
    std::string page = dir_.file("report.html");
    CommandResult analyze =
        protowatch(dir_, {"analyze", "-q", "--store", store_, "--report", page, capture});
    EXPECT_EQ(analyze.exit_code, 3) << analyze.err;
    EXPECT_NE(analyze.err.find("the report " + page + " was not written"), std::string::npos)
        << analyze.err;
    EXPECT_EQ(read_file(store_), before);
    EXPECT_FALSE(std::filesystem::exists(store_ + "-wal"));
    EXPECT_FALSE(std::filesystem::exists(store_ + "-shm"));
    EXPECT_FALSE(std::filesystem::exists(page));
}

TEST_F(StoreCli, SearchErrorEscapesControlCharacters) {
    write_fixture();
    CommandResult result = run({"search", "target_port = \x1b[31mRED\x07"});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_EQ(result.err.find('\x1b'), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find('\x07'), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("found '\\x1b[31mRED\\x07'"), std::string::npos) << result.err;
}

TEST_F(StoreCli, SearchErrorNamesPosition) {
    write_fixture();
    CommandResult result = run({"search", "protocol = TLS and target_port ="});
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.err.find("query:1:33: expected a value after '=', found end of query\n"
                              "  protocol = TLS and target_port =\n" +
                              std::string(34, ' ') + "^"),
              std::string::npos)
        << result.err;
}

TEST_F(StoreCli, SearchJoinsWords) {
    write_fixture();
    CommandResult result = run({"search", "process", "=", "smbd"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(connection_uids(result.out), std::vector<std::string>{"smbd-1"});
}

TEST_F(StoreCli, SearchFormats) {
    write_fixture();
    CommandResult csv = run({"search", "--format", "csv", "protocol = TLS and pid = 1001"});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    EXPECT_EQ(csv.out.rfind("event_uid,time,id,ip_protocol,", 0), 0u) << csv.out;
    EXPECT_NE(csv.out.find(",TLS;HTTP2,"), std::string::npos) << csv.out;
    CommandResult table = run({"search", "--format", "table", "process = smbd"});
    ASSERT_EQ(table.exit_code, 0) << table.err;
    EXPECT_EQ(table.out.rfind("TIME ", 0), 0u) << table.out;
    EXPECT_NE(table.out.find("2023-11-14T22:13:20.500Z  connect"), std::string::npos) << table.out;
}

// Text that anyone sending traffic or running a process chooses reaches CSV as UTF-8 that a
// terminal only shows: no escape sequences, no bytes that are not UTF-8.
TEST_F(StoreCli, CsvReplacesControlsAndInvalidBytes) {
    auto event = connection_event(events::Activity::kConnect, 1'700'000'000'000, "C1");
    event.device =
        "a\x1b[2Jb\xff\xfe"
        "c\xc2\x9b"
        "d\u00e9";
    event.process = events::Process{7, "x\ny", "/bin/x", "x", 0, "root", ""};
    testing::write_events(store_, {event});
    CommandResult csv = run({"dump", "--format", "csv"});
    ASSERT_EQ(csv.exit_code, 0) << csv.err;
    EXPECT_NE(csv.out.find(",a\xef\xbf\xbd[2Jb\xef\xbf\xbd\xef\xbf\xbd"
                           "c\xef\xbf\xbd"
                           "d\u00e9,"),
              std::string::npos)
        << csv.out;
    EXPECT_NE(csv.out.find(",\"x\ny\","), std::string::npos) << csv.out;  // quoted, kept
}

// Text that is not UTF-8 is stored as the output prints it, so that a search for the
// printed value finds it and every reader of the file gets UTF-8.
TEST_F(StoreCli, InvalidUtf8StoredAsPrinted) {
    auto event = connection_event(events::Activity::kConnect, 1'700'000'000'000, "C1");
    event.device = "lab\xff";
    event.process = events::Process{7, "a\xe2\x82z", "/bin/x", "x", 0, "root", ""};
    testing::write_events(store_, {event});
    {
        Database db = Database::open(store_, SQLITE_OPEN_READONLY);
        EXPECT_EQ(db.query_text("SELECT device FROM events"), "lab\xef\xbf\xbd");
        EXPECT_EQ(db.query_text("SELECT process_name FROM events"), "a\xef\xbf\xbdz");
    }
    std::vector<nlohmann::json> dumped = json_lines(run({"dump"}).out);
    ASSERT_EQ(dumped.size(), 1u);
    const std::string printed = dumped[0]["device"];
    CommandResult found = run({"search", "device = \"" + printed + "\""});
    ASSERT_EQ(found.exit_code, 0) << found.err;
    EXPECT_EQ(json_lines(found.out).size(), 1u);
}

TEST_F(StoreCli, DumpFilterEdgeCases) {
    testing::write_events(store_,
                          {connection_event(events::Activity::kConnect, 1'700'000'000'000, "C1")});
    CommandResult empty = run({"dump", "--connection", ""});
    EXPECT_EQ(empty.exit_code, 2);
    EXPECT_NE(empty.err.find("an empty connection_uid matches no event"), std::string::npos)
        << empty.err;
    // Seconds given where milliseconds are read: the warning names the option.
    for (const char* command : {"dump", "search"}) {
        std::vector<std::string> arguments = {command, "--since", "1700000000"};
        if (std::string(command) == "search") arguments.push_back("time > 0");
        CommandResult seconds = run(arguments);
        EXPECT_EQ(seconds.exit_code, 0) << command << ": " << seconds.err;
        EXPECT_NE(seconds.err.find("--since 1700000000 is read as milliseconds"), std::string::npos)
            << command << ": " << seconds.err;
        EXPECT_EQ(seconds.err.find("query:"), std::string::npos) << command << ": " << seconds.err;
    }
}

// A file name with control characters reaches the terminal escaped, in usage errors and in
// the log of a damaged capture.
TEST_F(StoreCli, FileNamesEscapedInMessages) {
    const std::string missing = dir_.file("gone\x1b[2J.pcap");
    CommandResult absent = protowatch(dir_, {"analyze", "-q", "--no-store", missing});
    EXPECT_EQ(absent.exit_code, 2);
    EXPECT_EQ(absent.err.find('\x1b'), std::string::npos) << absent.err;
    EXPECT_NE(absent.err.find("gone\\x1b[2J.pcap"), std::string::npos) << absent.err;

    const std::string damaged = dir_.file("cut\x1b[2J.pcap");
    std::string capture =
        testing::read_file(std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap");
    std::ofstream(damaged, std::ios::binary) << capture.substr(0, 90);
    CommandResult cut = protowatch(dir_, {"analyze", "-q", "--no-store", damaged});
    EXPECT_EQ(cut.exit_code, 2);
    EXPECT_EQ(cut.err.find('\x1b'), std::string::npos) << cut.err;
    EXPECT_NE(cut.err.find("cut\\x1b[2J.pcap"), std::string::npos) << cut.err;
}

TEST_F(StoreCli, CorrelateSessions) {
    using events::Activity;
    const int64_t t = 1'700'000'000'000;
    auto stats = [](int64_t time, int64_t start, int64_t end, const char* uid) {
        auto event = connection_event(Activity::kStatistics, time, uid);
        event.start_time_ms = start;
        event.end_time_ms = end;
        event.protocols = {ProtocolId::TLS};
        return event;
    };

    // The same endpoints twice (a reused source port), a session still open, and a quiet one
    // whose last statistics event fell due before its disconnect at the timeout.
    auto open_connect = connection_event(Activity::kConnect, t + 50'000, "open");
    open_connect.source_port = 50001;
    auto open_stats = stats(t + 51'000, t + 50'000, t + 51'000, "open");
    open_stats.source_port = 50001;
    auto quiet_connect = connection_event(Activity::kConnect, t + 60'000, "quiet");
    quiet_connect.source_port = 50002;
    auto quiet_stats = stats(t + 120'000, t + 60'000, t + 60'000, "quiet");
    quiet_stats.source_port = 50002;
    auto quiet_end = connection_event(Activity::kDisconnect, t + 180'000, "quiet");
    quiet_end.source_port = 50002;
    testing::write_events(
        store_, {connection_event(Activity::kConnect, t, "a"), stats(t + 1000, t, t + 1000, "a"),
                 connection_event(Activity::kDisconnect, t + 1000, "a"),
                 connection_event(Activity::kConnect, t + 20'000, "b"),
                 stats(t + 25'000, t + 20'000, t + 25'000, "b"),
                 connection_event(Activity::kDisconnect, t + 25'000, "b"), open_connect, open_stats,
                 quiet_connect, quiet_stats, quiet_end});

    CommandResult result = run({"search", "--correlate", "protocol = TLS"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::vector<nlohmann::json> records = json_lines(result.out);
    ASSERT_EQ(records.size(), 4u);

    EXPECT_EQ(records[0]["statistics"]["connection_uid"], "a");
    EXPECT_EQ(records[0]["connect"]["time"], t);
    EXPECT_EQ(records[0]["disconnect"]["time"], t + 1000);
    EXPECT_EQ(records[1]["connect"]["time"], t + 20'000);
    EXPECT_EQ(records[1]["disconnect"]["time"], t + 25'000);
    EXPECT_EQ(records[2]["connect"]["connection_uid"], "open");
    EXPECT_TRUE(records[2]["disconnect"].is_null());
    EXPECT_EQ(records[3]["connect"]["connection_uid"], "quiet");
    EXPECT_EQ(records[3]["disconnect"]["time"], t + 180'000);
}

// Events without a connection_uid pair by their endpoints within the statistics event's
// packets, and the events of a long connection analyzed twice pair within each copy.
TEST_F(StoreCli, CorrelateWithoutUidAndTwice) {
    using events::Activity;
    const int64_t t = 1'700'000'000'000;
    std::vector<events::Event> events;
    // Each connection's two copies follow each other, so that a statistics event lies nearer
    // to the other copy's disconnect than to its own.
    for (const char* uid : {"", "twice"}) {
        for (int copy = 0; copy < 2; ++copy) {
            const uint16_t port = uid[0] == '\0' ? 50010 : 50011;
            auto connect = connection_event(Activity::kConnect, t, uid);
            auto statistics = connection_event(Activity::kStatistics, t + 1000, uid);
            statistics.start_time_ms = t;
            statistics.end_time_ms = t + 1000;
            statistics.protocols = {ProtocolId::TLS};
            auto end = connection_event(Activity::kDisconnect, t + 1000, uid);
            for (events::Event* event : {&connect, &statistics, &end}) {
                event->source_port = port;
                // Tells the copies apart: the lookup does not compare directions.
                event->direction =
                    copy == 0 ? events::Direction::kOutbound : events::Direction::kInbound;
            }
            events.insert(events.end(), {connect, statistics});
            // Other connections' events between, as a long connection has them.
            for (int other = 0; other < 10; ++other) {
                auto filler = connection_event(Activity::kConnect, t + 500, "other");
                filler.source_port = static_cast<uint16_t>(60000 + other);
                events.push_back(filler);
            }
            events.push_back(end);
        }
    }
    testing::write_events(store_, events);

    CommandResult result = run({"search", "--correlate", "protocol = TLS"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::vector<nlohmann::json> records = json_lines(result.out);
    ASSERT_EQ(records.size(), 4u);
    for (const auto& record : records) {
        ASSERT_FALSE(record["connect"].is_null()) << record.dump();
        ASSERT_FALSE(record["disconnect"].is_null()) << record.dump();
        // The connect and disconnect stored beside the statistics event, not the other copy's.
        EXPECT_EQ(record["connect"]["direction_id"], record["statistics"]["direction_id"])
            << record.dump();
        EXPECT_EQ(record["disconnect"]["direction_id"], record["statistics"]["direction_id"])
            << record.dump();
    }
}

// Two connections with the same endpoints at the same time, as on two VLANs: each
// statistics event gets the connect and disconnect events of its own connection.
TEST_F(StoreCli, CorrelateSameEndpointsByConnection) {
    using events::Activity;
    const int64_t t = 1'700'000'000'000;
    std::vector<events::Event> events;
    for (const char* uid : {"vlan-10", "vlan-20"}) {
        events.push_back(connection_event(Activity::kConnect, t, uid));
        auto stats = connection_event(Activity::kStatistics, t + 1000, uid);
        stats.start_time_ms = t;
        stats.end_time_ms = t + 1000;
        stats.protocols = {ProtocolId::TLS};
        events.push_back(stats);
        events.push_back(connection_event(Activity::kDisconnect, t + 1000, uid));
    }
    testing::write_events(store_, events);

    CommandResult result = run({"search", "--correlate", "protocol = TLS"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::vector<nlohmann::json> records = json_lines(result.out);
    ASSERT_EQ(records.size(), 2u);
    for (const auto& record : records) {
        EXPECT_EQ(record["connect"]["connection_uid"], record["statistics"]["connection_uid"]);
        EXPECT_EQ(record["disconnect"]["connection_uid"], record["statistics"]["connection_uid"]);
    }
}

TEST_F(StoreCli, AnalyzeWritesStore) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    std::string json = dir_.file("events.jsonl");
    CommandResult analyze =
        protowatch(dir_, {"analyze", "-q", "--store", store_, "--json", json, capture});
    ASSERT_EQ(analyze.exit_code, 0) << analyze.err;
    std::vector<std::string> written;
    for (const auto& line : json_lines(read_file(json))) written.push_back(line.dump());
    std::vector<std::string> stored;
    for (auto line : json_lines(run({"dump"}).out)) {
        line.erase("event_uid");
        stored.push_back(line.dump());
    }
    ASSERT_FALSE(written.empty());
    std::sort(written.begin(), written.end());
    std::sort(stored.begin(), stored.end());
    EXPECT_EQ(stored, written);
}

// A list option takes one value per occurrence, so that the files after it stay files, as
// they are after `--`.
TEST_F(StoreCli, LocalNetLeavesFilesAfterIt) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    CommandResult after = protowatch(dir_, {"analyze", "-q", "--no-store", "--json", "-",
                                            "--local-net", "10.0.0.0/8", capture, capture});
    ASSERT_EQ(after.exit_code, 0) << after.err;
    CommandResult separated =
        protowatch(dir_, {"analyze", "-q", "--no-store", "--json", "-", "--local-net", "10.0.0.0/8",
                          "--", capture, capture});
    ASSERT_EQ(separated.exit_code, 0) << separated.err;
    EXPECT_EQ(after.out, separated.out);
}

TEST_F(StoreCli, AnalyzeRefusesJsonOverTheStore) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    ASSERT_EQ(protowatch(dir_, {"analyze", "-q", "--store", store_, capture}).exit_code, 0);
    CommandResult again =
        protowatch(dir_, {"analyze", "-q", "--store", store_, "--json", store_, capture});
    EXPECT_NE(again.exit_code, 0);
    EXPECT_NE(again.err.find("is the event store"), std::string::npos) << again.err;
    EXPECT_FALSE(json_lines(run({"dump"}).out).empty());
}

TEST_F(StoreCli, ReportWarnsAboutDisconnectFields) {
    testing::write_events(
        store_, {connection_event(events::Activity::kDisconnect, 1'700'000'000'000, "C1")});
    CommandResult report =
        protowatch(dir_, {"report", "--store", store_, "-o", dir_.file("r.html"), "Reason = fin"});
    EXPECT_EQ(report.exit_code, 0) << report.err;
    EXPECT_NE(report.err.find("only disconnect events carry"), std::string::npos) << report.err;
}

TEST_F(StoreCli, ReportRefusesOutputOverTheStore) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    ASSERT_EQ(protowatch(dir_, {"analyze", "-q", "--store", store_, capture}).exit_code, 0);
    const size_t stored = json_lines(run({"dump"}).out).size();
    for (const std::string& output :
         {store_, store_ + "-wal", dir_.path().string() + "/./events.db"}) {
        CommandResult over = protowatch(dir_, {"report", "--store", store_, "-o", output});
        EXPECT_EQ(over.exit_code, 2) << output;
        EXPECT_NE(over.err.find("is the event store"), std::string::npos) << over.err;
    }
    EXPECT_EQ(json_lines(run({"dump"}).out).size(), stored);
    // Through a link to the store, SQLite's files are named after the store's real path.
    const std::string link = dir_.file("link.db");
    std::filesystem::create_symlink(store_, link);
    CommandResult through = protowatch(dir_, {"report", "--store", link, "-o", store_ + "-wal"});
    EXPECT_EQ(through.exit_code, 2);
    EXPECT_NE(through.err.find("is the event store's wal file"), std::string::npos) << through.err;
}

TEST_F(StoreCli, AnalyzeRefusesOutputsOverEachOther) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    ASSERT_EQ(protowatch(dir_, {"analyze", "-q", "--store", store_, capture}).exit_code, 0);
    for (const char* suffix : {"-wal", "-shm"}) {
        CommandResult beside = protowatch(
            dir_, {"analyze", "-q", "--store", store_, "--json", store_ + suffix, capture});
        EXPECT_EQ(beside.exit_code, 1) << suffix;
        EXPECT_NE(beside.err.find("is the event store's " + std::string(suffix + 1) + " file"),
                  std::string::npos)
            << beside.err;
    }
    std::string output = dir_.file("out");
    CommandResult both = protowatch(
        dir_, {"analyze", "-q", "--no-store", "--json", output, "--report", output, capture});
    EXPECT_EQ(both.exit_code, 1);
    EXPECT_NE(both.err.find("name the same file"), std::string::npos) << both.err;
    EXPECT_FALSE(std::filesystem::exists(output));
    // Spelled another way, through a directory that does not exist either.
    CommandResult spelled = protowatch(dir_, {"analyze", "-q", "--no-store", "--json", output,
                                              "--report", dir_.file("absent/../out"), capture});
    EXPECT_EQ(spelled.exit_code, 1);
    EXPECT_NE(spelled.err.find("name the same file"), std::string::npos) << spelled.err;
    CommandResult new_store =
        protowatch(dir_, {"analyze", "-q", "--store", dir_.file("new.db"), "--json",
                          dir_.file("absent/../new.db-wal"), capture});
    EXPECT_EQ(new_store.exit_code, 1);
    EXPECT_NE(new_store.err.find("is the event store's wal file"), std::string::npos)
        << new_store.err;
    EXPECT_FALSE(json_lines(run({"dump"}).out).empty());
}

TEST_F(StoreCli, DeviceNameThatIsNotUtf8IsKept) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    std::string json = dir_.file("events.jsonl");
    CommandResult analyze = protowatch(
        dir_, {"analyze", "-q", "--store", store_, "--json", json, "--device", "web\xff", capture});
    ASSERT_EQ(analyze.exit_code, 0) << analyze.err;
    std::vector<nlohmann::json> events = json_lines(read_file(json));
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.front()["device"], "web\uFFFD");
    EXPECT_EQ(json_lines(run({"dump"}).out).size(), events.size());
}

TEST_F(StoreCli, DumpToAFullDeviceFails) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    ASSERT_EQ(protowatch(dir_, {"analyze", "-q", "--store", store_, capture}).exit_code, 0);
    std::string command = std::string(PROTOWATCH_BINARY) + " dump --store " + store_ +
                          " >/dev/full 2>/dev/null";
    int status = std::system(command.c_str());
    EXPECT_EQ(WEXITSTATUS(status), 3);
}

TEST_F(StoreCli, AnalyzeGoesOnWithoutStore) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    std::ofstream(dir_.file("file")) << "x";
    std::string bad_store = dir_.file("file/events.db");
    std::string json = dir_.file("events.jsonl");
    CommandResult analyze =
        protowatch(dir_, {"analyze", "-q", "--store", bad_store, "--json", json, capture});
    // Analysis goes on and writes the JSON events, but the exit status reports the loss.
    EXPECT_EQ(analyze.exit_code, 3) << analyze.err;
    EXPECT_NE(analyze.err.find(dir_.file("file")), std::string::npos) << analyze.err;
    EXPECT_NE(analyze.err.find("events were not stored"), std::string::npos) << analyze.err;
    EXPECT_FALSE(json_lines(read_file(json)).empty());
}

TEST_F(StoreCli, AnalyzeNoStore) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    CommandResult analyze =
        protowatch(dir_, {"analyze", "-q", "--no-store", "--json", "-", capture});
    EXPECT_EQ(analyze.exit_code, 0) << analyze.err;
    EXPECT_FALSE(std::filesystem::exists(store_));
}

// Standard input ('-') and a FIFO whose writer has finished are read like files.
TEST_F(StoreCli, AnalyzeReadsStandardInputAndFifo) {
    std::string capture = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    size_t expected =
        json_lines(protowatch(dir_, {"analyze", "-q", "--no-store", "--json", "-", capture}).out)
            .size();
    ASSERT_GT(expected, 0u);
    std::string piped = std::string(PROTOWATCH_BINARY) + " analyze -q --no-store --json - - < " +
                        shell_quote(capture);
    FILE* pipe = popen(piped.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    char buffer[4096];
    for (size_t n = 0; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
    EXPECT_EQ(pclose(pipe), 0);
    EXPECT_EQ(json_lines(out).size(), expected);

    std::string fifo = dir_.file("capture.fifo");
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    // The writer may be gone by the time protowatch opens the path a second time.
    ASSERT_EQ(std::system(("cat " + shell_quote(capture) + " > " + shell_quote(fifo) + " &")
                              .c_str()),
              0);
    CommandResult from_fifo = protowatch(
        dir_, {"analyze", "-q", "--no-store", "--json", "-", fifo});
    EXPECT_EQ(from_fifo.exit_code, 0) << from_fifo.err;
    EXPECT_EQ(json_lines(from_fifo.out).size(), expected);
}

TEST_F(StoreCli, BadPathsAndValuesNamed) {
    std::ofstream(dir_.file("empty.pcap")).close();
    CommandResult empty = protowatch(dir_, {"analyze", "-q", "--no-store", dir_.file("empty.pcap")});
    EXPECT_EQ(empty.exit_code, 1);
    EXPECT_NE(empty.err.find("the file is empty (0 bytes)"), std::string::npos) << empty.err;

    CommandResult directory = protowatch(dir_, {"dump", "--store", dir_.path().string()});
    EXPECT_EQ(directory.exit_code, 1);
    EXPECT_NE(directory.err.find("is a directory, not an event store"), std::string::npos)
        << directory.err;

    CommandResult policy = protowatch(dir_, {"protocols", "--policy", dir_.path().string()});
    EXPECT_EQ(policy.exit_code, 1);
    EXPECT_NE(policy.err.find("not a regular file"), std::string::npos) << policy.err;

    CommandResult flows = protowatch(
        dir_, {"analyze", "--no-store", "--max-flows", "0",
               std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap"});
    EXPECT_EQ(flows.exit_code, 2);
    EXPECT_NE(flows.err.find("'0' must be a whole number of at least 1"), std::string::npos)
        << flows.err;
    CommandResult interval = protowatch(
        dir_, {"analyze", "--no-store", "--stats-interval", "1e-9",
               std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap"});
    EXPECT_EQ(interval.exit_code, 2);
    EXPECT_NE(interval.err.find("shorter than a millisecond"), std::string::npos) << interval.err;
    // A timeout meant as "never" must not overflow into one that ends every flow at once.
    CommandResult forever = protowatch(
        dir_, {"analyze", "--no-store", "--tcp-timeout", "1e13",
               std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap"});
    EXPECT_EQ(forever.exit_code, 2);
    EXPECT_NE(forever.err.find("'1e13' is longer than 100 years"), std::string::npos)
        << forever.err;
    CommandResult limit = run({"dump", "--limit", "-1"});
    EXPECT_EQ(limit.exit_code, 2);
    EXPECT_NE(limit.err.find("at least 0"), std::string::npos) << limit.err;
}

// `protocols` is a command of its own, tested here for the command runner above.
TEST_F(StoreCli, AuditTermsInOneArgumentOrMany) {
    write_fixture();
    int64_t time = 1'700'000'000'000;
    for (auto [action, user] : {std::pair{"enable", "root"}, std::pair{"disable", "root"},
                                std::pair{"disable", "alice"}}) {
        events::AuditEvent event;
        event.time_ms = ++time;
        event.action = action;
        event.actor_uid = std::string(user) == "root" ? 0 : 1000;
        event.actor_user = user;
        event.changes = {{"recording.enabled", "true", "false"}};
        record_audit_event(store_, event);
    }
    for (const std::vector<std::string>& terms :
         {std::vector<std::string>{"user=root", "action=disable"},
          std::vector<std::string>{"user=root action=disable"},
          std::vector<std::string>{"user=root and action=disable"}}) {
        std::vector<std::string> arguments = {"search", "--audit"};
        arguments.insert(arguments.end(), terms.begin(), terms.end());
        CommandResult found = run(arguments);
        ASSERT_EQ(found.exit_code, 0) << found.err;
        std::vector<nlohmann::json> lines = json_lines(found.out);
        ASSERT_EQ(lines.size(), 1u) << terms[0];
        EXPECT_EQ(lines[0]["action"], "disable");
    }
    CommandResult unknown = run({"search", "--audit", "action=bogus"});
    EXPECT_NE(unknown.exit_code, 0);
    EXPECT_NE(unknown.err.find("unknown audit action 'bogus'"), std::string::npos) << unknown.err;
    CommandResult twice = run({"search", "--audit", "user=root", "user=alice"});
    EXPECT_NE(twice.exit_code, 0);
    EXPECT_NE(twice.err.find("gives user twice"), std::string::npos) << twice.err;
}

TEST(ProtocolsCli, ShowsWhatThePolicyRecords) {
    TempDir dir;
    {
        std::ofstream policy(dir.file("policy.toml"));
        policy << "[recording]\nprotocols = [\"DNS\", 406]\n";
    }
    CommandResult run =
        protowatch(dir, {"protocols", "--format", "jsonl", "--policy", dir.file("policy.toml")});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    std::vector<nlohmann::json> rows = json_lines(run.out);
    EXPECT_EQ(rows.size(), protocol_table().size());
    std::vector<std::string> recorded;
    for (const auto& row : rows) {
        if (row["recorded"].get<bool>()) recorded.push_back(row["name"]);
    }
    EXPECT_EQ(recorded, (std::vector<std::string>{"DNS", "TLS"}));
}

TEST(ProtocolsCli, NamesABadPolicy) {
    TempDir dir;
    {
        std::ofstream policy(dir.file("policy.toml"));
        policy << "[recording]\nprotocols = [\"NOT_A_PROTOCOL\"]\n";
    }
    CommandResult run = protowatch(dir, {"protocols", "--policy", dir.file("policy.toml")});
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_NE(run.err.find("NOT_A_PROTOCOL"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace pw::store
