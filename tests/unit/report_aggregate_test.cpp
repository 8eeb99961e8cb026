// The report's aggregation queries, on real SQLite stores: synthetic events with known
// totals, and the events of an analysis of tests/captures/sample.pcap.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "query/compiler.h"
#include "report/aggregate.h"
#include "report/palette.h"
#include "store/store_reader.h"
#include "store_test_helpers.h"

namespace pw::report {
namespace {

using events::Activity;
using nlohmann::json;
using store::testing::connection_event;
using store::testing::TempDir;

constexpr int64_t kStart = 1'700'000'000'000;

// The three events of one connection, with `stats` cumulative statistics events (the last
// one carries bytes_in `bytes`, the earlier ones half as much).
std::vector<events::Event> connection(const std::string& uid, int64_t start_ms,
                                      std::vector<ProtocolId> protocols, uint64_t bytes,
                                      int stats = 1) {
    std::vector<events::Event> out;
    out.push_back(connection_event(Activity::kConnect, start_ms, uid));
    for (int i = 1; i <= stats; ++i) {
        events::Event event = connection_event(Activity::kStatistics, start_ms + 1000 * i, uid);
        event.protocols = protocols;
        event.bytes_in = i == stats ? bytes : bytes / 2;
        event.bytes_out = i == stats ? 10 : 5;
        event.start_time_ms = start_ms;
        event.end_time_ms = start_ms + 1000 * i;
        out.push_back(event);
    }
    out.push_back(connection_event(Activity::kDisconnect, start_ms + 1000 * stats, uid));
    return out;
}

void append(std::vector<events::Event>& to, std::vector<events::Event> more) {
    to.insert(to.end(), more.begin(), more.end());
}

json aggregate_store(const std::string& path, const std::string& query = "",
                     const Limits& limits = {}) {
    store::StoreReader reader = store::StoreReader::open(path);
    query::SqlFilter filter;
    if (!query.empty()) filter = query::compile_query(query, kStart);
    return aggregate(reader.database(), filter, limits);
}

const json* find_id(const json& list, int64_t id) {
    for (const json& row : list) {
        if (row["id"].get<int64_t>() == id) return &row;
    }
    return nullptr;
}

class ReportAggregateTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::vector<events::Event> events;
        // A long TLS connection with three cumulative statistics events: counted once.
        append(events,
               connection("C1", kStart, {ProtocolId::TLS, ProtocolId::TLS_ALPN_H2}, 1000, 3));
        append(events,
               connection("C2", kStart + 60'000, {ProtocolId::HTTP, ProtocolId::IMAGE_PNG}, 500));
        append(events, connection("C3", kStart + 120'000, {ProtocolId::DNS}, 80));
        append(events, connection("C4", kStart + 180'000, {}, 7));
        store::testing::write_events(path_, events);
    }
    TempDir dir_;
    std::string path_ = dir_.file("events.db");
};

TEST_F(ReportAggregateTest, CountsEachConnectionOnce) {
    json data = aggregate_store(path_);
    EXPECT_EQ(data["totals"]["connections"], 4);
    EXPECT_EQ(data["totals"]["bytes_in"], 1000 + 500 + 80 + 7);
    EXPECT_EQ(data["totals"]["bytes_out"], 40);
    EXPECT_EQ(data["totals"]["first_ms"], kStart);
    EXPECT_EQ(data["totals"]["last_ms"], kStart + 181'000);
}

TEST_F(ReportAggregateTest, AppliesFirstApplicationProtocol) {
    json totals = aggregate_store(path_)["protocol_totals"];
    ASSERT_EQ(totals.size(), 4u);
    EXPECT_EQ(totals[0]["id"], static_cast<int>(ProtocolId::TLS));
    EXPECT_EQ(totals[0]["bytes_in"], 1000);
    EXPECT_EQ(find_id(totals, static_cast<int>(ProtocolId::TLS_ALPN_H2)), nullptr);
    ASSERT_NE(find_id(totals, static_cast<int>(ProtocolId::HTTP)), nullptr);
    ASSERT_NE(find_id(totals, 0), nullptr);  // the connection without a protocol
    EXPECT_EQ((*find_id(totals, 0))["connections"], 1);
}

TEST_F(ReportAggregateTest, ListsTransferContentTypes) {
    json content = aggregate_store(path_)["content_types"];
    ASSERT_EQ(content.size(), 1u);
    EXPECT_EQ(content[0]["id"], static_cast<int>(ProtocolId::IMAGE_PNG));
    EXPECT_EQ(content[0]["connections"], 1);
    EXPECT_EQ(content[0]["bytes"], 510);
}

TEST_F(ReportAggregateTest, QueryNarrowsScope) {
    json data = aggregate_store(path_, "protocol = DNS");
    EXPECT_EQ(data["totals"]["connections"], 1);
    EXPECT_EQ(data["totals"]["bytes_in"], 80);
    EXPECT_EQ(aggregate_store(path_, "protocol = SMB2")["totals"]["connections"], 0);
}

TEST_F(ReportAggregateTest, TimelineSumsToTotals) {
    Limits limits;
    limits.time_buckets = 5;
    json data = aggregate_store(path_, "", limits);
    json timeline = data["timeline"];
    EXPECT_EQ(timeline["bucket_ms"], 60'000);  // 181 s in at most 5 buckets of round width
    int64_t bytes = 0, connections = 0;
    for (const json& series : timeline["series"]) {
        EXPECT_LE(series["bytes"].size(), limits.time_buckets);
        for (const json& value : series["bytes"]) bytes += value.get<int64_t>();
        for (const json& value : series["connections"]) connections += value.get<int64_t>();
    }
    EXPECT_EQ(bytes, 1000 + 500 + 80 + 7 + 40);
    EXPECT_EQ(connections, 4);
}

TEST_F(ReportAggregateTest, FoldsRareProtocolsIntoOther) {
    Limits limits;
    limits.chart_protocols = 2;
    json series = aggregate_store(path_, "", limits)["timeline"]["series"];
    ASSERT_EQ(series.size(), 3u);
    EXPECT_EQ(series[2]["id"], kOtherProtocols);
}

TEST_F(ReportAggregateTest, TableKeepsFirstRows) {
    Limits limits;
    limits.table_rows = 3;
    json table = aggregate_store(path_, "", limits)["connections"];
    ASSERT_EQ(table["rows"].size(), 3u);
    EXPECT_EQ(table["rest"], 1);
    EXPECT_EQ(table["rows"][0][13], "C1");
    EXPECT_EQ(table["rows"][0][8], "TLS TLS_ALPN_H2");
}

TEST_F(ReportAggregateTest, CountsEndReasons) {
    json reasons = aggregate_store(path_)["end_reasons"];
    ASSERT_EQ(reasons.size(), 1u);
    EXPECT_EQ(reasons[0]["reason"], "fin");
    EXPECT_EQ(reasons[0]["connections"], 4);
}

TEST_F(ReportAggregateTest, NoProcessDataLeavesProcessesEmpty) {
    EXPECT_TRUE(aggregate_store(path_)["processes"].empty());
}

TEST(ReportAggregate, GroupsProcessesAndInboundEndpoints) {
    TempDir dir;
    std::vector<events::Event> events = connection("C1", kStart, {ProtocolId::SSH}, 300);
    append(events, connection("C2", kStart + 5, {ProtocolId::TLS}, 100));
    for (events::Event& event : events) {
        event.process = events::Process{42, "sshd", "/usr/sbin/sshd", "sshd -D", 0, "root", ""};
        if (event.connection_uid == "C1") {
            event.direction = events::Direction::kInbound;
            event.source_ip = "198.51.100.9";
        }
    }
    store::testing::write_events(dir.file("events.db"), events);
    json data = aggregate_store(dir.file("events.db"));

    ASSERT_EQ(data["processes"].size(), 1u);
    EXPECT_EQ(data["processes"][0]["name"], "sshd");
    EXPECT_EQ(data["processes"][0]["pids"], 1);
    ASSERT_EQ(data["processes"][0]["protocols"].size(), 2u);
    EXPECT_EQ(data["processes"][0]["protocols"][0]["id"], static_cast<int>(ProtocolId::SSH));

    ASSERT_EQ(data["endpoints"].size(), 2u);
    EXPECT_EQ(data["endpoints"][0]["name"], "198.51.100.9");  // the inbound initiator
    EXPECT_EQ(data["endpoints"][1]["name"], "93.184.216.34");
}

TEST(ReportAggregate, BoundsEndpointPortList) {
    TempDir dir;
    std::vector<events::Event> events;
    for (int port = 1; port <= 10; ++port) {
        std::vector<events::Event> scan =
            connection("C" + std::to_string(port), kStart + port, {}, 0);
        for (events::Event& event : scan) event.target_port = static_cast<uint16_t>(port);
        append(events, scan);
    }
    store::testing::write_events(dir.file("events.db"), events);
    json endpoints = aggregate_store(dir.file("events.db"))["endpoints"];

    ASSERT_EQ(endpoints.size(), 1u);
    std::string ports = endpoints[0]["ports"].get<std::string>();
    EXPECT_TRUE(ports.ends_with(" and 4 more")) << ports;
    EXPECT_EQ(std::count(ports.begin(), ports.end(), ','), 5) << ports;
}

// The ports come in ascending order whatever order their events were stored in, which
// several analysis threads do not fix.
TEST(ReportAggregate, EndpointPortsInOrder) {
    TempDir dir;
    std::vector<events::Event> events;
    int number = 0;
    for (int port : {443, 22, 8080, 80, 22, 53}) {
        std::vector<events::Event> scan =
            connection("C" + std::to_string(++number), kStart + number, {}, 0);
        for (events::Event& event : scan) event.target_port = static_cast<uint16_t>(port);
        append(events, scan);
    }
    store::testing::write_events(dir.file("events.db"), events);
    json endpoints = aggregate_store(dir.file("events.db"))["endpoints"];

    ASSERT_EQ(endpoints.size(), 1u);
    EXPECT_EQ(endpoints[0]["ports"].get<std::string>(), "22,53,80,443,8080");
}

TEST(ReportAggregate, AnalysisOfSampleCapture) {
    TempDir dir;
    std::string store_path = dir.file("events.db");
    std::string command = std::string(PROTOWATCH_BINARY) + " analyze -q --no-progress --store '" +
                          store_path + "' '" + PROTOWATCH_SOURCE_DIR +
                          "/tests/captures/sample.pcap' 2>/dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;

    json data = aggregate_store(store_path);
    int64_t connections = store::testing::count_rows(
        store_path, "SELECT count(DISTINCT connection_uid) FROM events WHERE activity_id = 3");
    int64_t bytes_in = store::testing::count_rows(
        store_path,
        "SELECT sum(bytes_in) FROM events e WHERE activity_id = 3 AND id = "
        "(SELECT max(id) FROM events WHERE connection_uid = e.connection_uid AND activity_id = 3)");
    EXPECT_EQ(data["totals"]["connections"], connections);
    EXPECT_EQ(data["totals"]["bytes_in"], bytes_in);
    EXPECT_GT(connections, 10);
    EXPECT_FALSE(data["content_types"].empty());
    std::set<int64_t> ids;
    for (const json& row : data["protocol_totals"]) ids.insert(row["id"].get<int64_t>());
    EXPECT_TRUE(ids.contains(static_cast<int>(ProtocolId::DNS)));
    EXPECT_TRUE(ids.contains(static_cast<int>(ProtocolId::HTTP)));
}

TEST(ReportPalette, SameColorForSameProtocol) {
    EXPECT_EQ(protocol_color(406), protocol_color(406));
    EXPECT_NE(protocol_color(static_cast<int>(ProtocolId::TLS)),
              protocol_color(static_cast<int>(ProtocolId::HTTP)));
    EXPECT_NE(protocol_color(0), protocol_color(kOtherProtocols));
    EXPECT_EQ(protocol_color(static_cast<int>(ProtocolId::IMAP)).size(), 7u);
    EXPECT_EQ(protocol_color(999).front(), '#');
}

}  // namespace
}  // namespace pw::report
