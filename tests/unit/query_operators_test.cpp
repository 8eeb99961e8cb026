#include <gtest/gtest.h>

#include <set>
#include <string>

#include "query/compiler.h"
#include "store_test_helpers.h"

namespace pw::store {
namespace {

using testing::connection_event;
using testing::TempDir;

constexpr int64_t kTime = 1'700'000'000'000;
// "now" for relative times: ten minutes after the events.
constexpr int64_t kNow = kTime + 600'000;

events::Process process(int64_t pid, const std::string& name, const std::string& user) {
    return events::Process{pid, name, "/usr/bin/" + name, name + " --run", 1000, user, ""};
}

// The events every test queries, each with a connection_uid that names it.
std::vector<events::Event> fixture_events() {
    using events::Activity;
    std::vector<events::Event> events;

    auto tls_connect = connection_event(Activity::kConnect, kTime, "tls-connect");
    tls_connect.process = process(100, "python3", "alice");
    auto tls_stats = connection_event(Activity::kStatistics, kTime + 50, "tls-stats");
    tls_stats.protocols = {ProtocolId::TLS, ProtocolId::TLS_ALPN_H2};
    tls_stats.bytes_out = 2'000'000;
    tls_stats.bytes_in = 5000;
    tls_stats.process = tls_connect.process;
    auto tls_end = connection_event(Activity::kDisconnect, kTime + 50, "tls-disconnect");
    tls_end.process = tls_connect.process;
    events.insert(events.end(), {tls_connect, tls_stats, tls_end});

    auto smb2 = connection_event(Activity::kStatistics, kTime + 100, "smb2-stats");
    smb2.source_ip = "10.1.2.3";
    smb2.source_port = 51000;
    smb2.target_ip = "192.168.1.20";
    smb2.target_port = 445;
    smb2.direction = events::Direction::kInbound;
    smb2.protocols = {ProtocolId::SMB2};
    smb2.bytes_out = 500;
    smb2.process = process(200, "smbd", "root");
    events.push_back(smb2);

    auto dns = connection_event(Activity::kStatistics, kTime + 200, "dns-stats");
    dns.ip_protocol = 17;
    dns.source_ip = "2001:db8::10";
    dns.source_port = 53000;
    dns.target_ip = "2001:db8:1::53";
    dns.target_port = 53;
    dns.direction = events::Direction::kUnknown;
    dns.protocols = {ProtocolId::DNS};
    dns.bytes_out = 1000;
    events.push_back(dns);

    auto smb1 = connection_event(Activity::kStatistics, kTime + 300, "smb1-stats");
    smb1.target_ip = "10.9.9.9";
    smb1.target_port = 139;
    smb1.protocols = {ProtocolId::SMB};
    smb1.bytes_out = 3'000'000;
    smb1.partial = true;
    smb1.process = process(300, "python3.11", "bob");
    events.push_back(smb1);

    auto old = connection_event(Activity::kConnect, kTime - 7'200'000, "old-connect");
    old.target_port = 22;
    events.push_back(old);
    return events;
}

class QueryOperators : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        dir_ = new TempDir();
        testing::write_events(dir_->file("events.db"), fixture_events());
    }
    static void TearDownTestSuite() { delete dir_; }

    // The connection_uids of the events that `query` matches.
    std::set<std::string> match(const std::string& query) {
        StoreReader reader = StoreReader::open(dir_->file("events.db"));
        std::set<std::string> uids;
        for (const StoredEvent& e : testing::read_all(reader, query::compile_query(query, kNow))) {
            uids.insert(e.event.connection_uid);
        }
        return uids;
    }

    static TempDir* dir_;
};

TempDir* QueryOperators::dir_ = nullptr;

using Uids = std::set<std::string>;
const Uids kTls = {"tls-connect", "tls-stats", "tls-disconnect"};

TEST_F(QueryOperators, Equal) {
    EXPECT_EQ(match("target_port = 443"), kTls);
    EXPECT_EQ(match("protocol = TLS"), Uids{"tls-stats"});
    EXPECT_EQ(match("protocol = tls"), Uids{"tls-stats"});
    EXPECT_EQ(match("protocol = 406"), Uids{"tls-stats"});
    EXPECT_EQ(match("direction = inbound"), Uids{"smb2-stats"});
    EXPECT_EQ(match("id = disconnect"), Uids{"tls-disconnect"});
    EXPECT_EQ(match("reason = fin"), Uids{"tls-disconnect"});
    EXPECT_EQ(match("ip_protocol = udp"), Uids{"dns-stats"});
    EXPECT_EQ(match("partial = true"), Uids{"smb1-stats"});
    EXPECT_EQ(match("user = bob"), Uids{"smb1-stats"});
    EXPECT_EQ(match("pid = 200"), Uids{"smb2-stats"});
    EXPECT_EQ(match("process.executable = \"/usr/bin/smbd\""), Uids{"smb2-stats"});
}

TEST_F(QueryOperators, EqualAddressIsCanonical) {
    EXPECT_EQ(match("source_ip = 2001:DB8:0::10"), Uids{"dns-stats"});
    EXPECT_EQ(match("target_ip = 192.168.1.20"), Uids{"smb2-stats"});
}

TEST_F(QueryOperators, NotEqual) {
    EXPECT_EQ(match("target_port != 443 and target_port != 22"),
              (Uids{"smb2-stats", "dns-stats", "smb1-stats"}));
    // Events without a process have no name, so they differ from every name.
    EXPECT_EQ(match("process != python3 and id = statistics"),
              (Uids{"smb2-stats", "dns-stats", "smb1-stats"}));
    Uids not_tls = match("protocol != TLS");
    EXPECT_EQ(not_tls.count("tls-stats"), 0u);
    EXPECT_EQ(not_tls.count("tls-connect"), 1u);
    EXPECT_EQ(match("target_ip != 93.184.216.34"), (Uids{"smb2-stats", "dns-stats", "smb1-stats"}));
}

TEST_F(QueryOperators, Ordering) {
    EXPECT_EQ(match("bytes_out > 1MB"), (Uids{"tls-stats", "smb1-stats"}));
    EXPECT_EQ(match("bytes_out >= 2MB"), (Uids{"tls-stats", "smb1-stats"}));
    EXPECT_EQ(match("bytes_out < 1KB"), Uids{"smb2-stats"});
    EXPECT_EQ(match("bytes_out <= 1KB"), (Uids{"smb2-stats", "dns-stats"}));
    EXPECT_EQ(match("bytes_out >= 1KiB and bytes_out < 1MB"), Uids{});
    EXPECT_EQ(match("bytes_out > 2.5MB"), Uids{"smb1-stats"});
    EXPECT_EQ(match("target_port < 100"), (Uids{"dns-stats", "old-connect"}));
}

TEST_F(QueryOperators, Glob) {
    EXPECT_EQ(match("process ~ \"python*\" and id = statistics"),
              (Uids{"tls-stats", "smb1-stats"}));
    EXPECT_EQ(match("process ~ \"PYTHON*\""), Uids{});
    EXPECT_EQ(match("protocol ~ SMB*"), (Uids{"smb2-stats", "smb1-stats"}));
    EXPECT_EQ(match("source_ip ~ \"10.1.*\""), Uids{"smb2-stats"});
    EXPECT_EQ(match("process.command_line ~ \"*--run\" and pid = 300"), Uids{"smb1-stats"});
}

TEST_F(QueryOperators, In) {
    EXPECT_EQ(match("protocol in (SMB, SMB2)"), (Uids{"smb2-stats", "smb1-stats"}));
    EXPECT_EQ(match("protocol in (SMB, SMB2) and bytes_out > 1MB"), Uids{"smb1-stats"});
    EXPECT_EQ(match("target_port in (445, 53)"), (Uids{"smb2-stats", "dns-stats"}));
    EXPECT_EQ(match("process in (smbd, \"python3.11\")"), (Uids{"smb2-stats", "smb1-stats"}));
    EXPECT_EQ(match("direction in (inbound, unknown)"), (Uids{"smb2-stats", "dns-stats"}));
}

TEST_F(QueryOperators, InNetwork) {
    EXPECT_EQ(match("target_ip in 10.0.0.0/8"), Uids{"smb1-stats"});
    EXPECT_EQ(match("source_ip in 10.0.0.0/8 and target_port = 445"), Uids{"smb2-stats"});
    EXPECT_EQ(match("target_ip in 2001:db8:1::/48"), Uids{"dns-stats"});
    EXPECT_EQ(match("target_ip in (192.168.0.0/16, 2001:db8::/32)"),
              (Uids{"smb2-stats", "dns-stats"}));
    EXPECT_EQ(match("target_ip = 192.168.1.0/24"), Uids{"smb2-stats"});
    EXPECT_EQ(match("target_ip in 0.0.0.0/0 and target_port = 53"), Uids{});
    EXPECT_EQ(match("target_ip in ::/0 and target_port = 53"), Uids{"dns-stats"});
    // An IPv6 network larger than the range IPv4 addresses are stored in means IPv6 only,
    // while that range, or a network inside it, is IPv4.
    EXPECT_EQ(match("target_ip in ::/0"), Uids{"dns-stats"});
    EXPECT_EQ(match("target_ip in ::/8"), Uids{});
    EXPECT_EQ(match("target_ip in ::ffff:10.0.0.0/104"), Uids{"smb1-stats"});
    EXPECT_EQ(match("target_ip in ::ffff:0:0/96"), match("target_ip in 0.0.0.0/0"));
    // Bits after the prefix do not narrow the network.
    EXPECT_EQ(match("target_ip in 10.200.3.4/8"), Uids{"smb1-stats"});
}

TEST_F(QueryOperators, NotAndOr) {
    Uids not_inbound = match("not direction = inbound");
    EXPECT_EQ(not_inbound.count("smb2-stats"), 0u);
    EXPECT_EQ(not_inbound.size(), 6u);
    EXPECT_EQ(match("(protocol = TLS or protocol = DNS) and not target_port = 53"),
              Uids{"tls-stats"});
    EXPECT_EQ(match("protocol = TLS or protocol = DNS and target_port = 443"), Uids{"tls-stats"});
    // bytes_out of a connect event is NULL; `not` still counts it as not above 1MB.
    EXPECT_EQ(match("not bytes_out > 1MB and target_port = 443"),
              (Uids{"tls-connect", "tls-disconnect"}));
    EXPECT_EQ(match("not not pid = 200"), Uids{"smb2-stats"});
}

// A chain as long as the comparison limit allows runs: a chain is written flat, not as one
// pair of parentheses per operator, which would overflow SQLite's parser.
TEST_F(QueryOperators, LongChains) {
    std::string any_port = "target_port = 53";
    std::string no_port = "target_port != 1";
    for (int port = 1000; port < 1255; ++port) {
        any_port += " or target_port = " + std::to_string(port);
        no_port += " and target_port != " + std::to_string(port);
    }
    EXPECT_EQ(match(any_port), Uids{"dns-stats"});
    EXPECT_EQ(match(no_port).size(), 7u);
}

// Nesting that SQLite's parser cannot take is a fault of the query, found before the store
// is read.
TEST_F(QueryOperators, NestingBeyondSqlite) {
    std::string query;
    for (int level = 0; level < 30; ++level) query += "not (pid = 1 and ";
    query += "pid = 2";
    query += std::string(30, ')');
    try {
        match(query);
        FAIL() << "expected a QueryError";
    } catch (const query::QueryError& error) {
        EXPECT_NE(error.message().find("too deeply"), std::string::npos) << error.message();
    }
    EXPECT_EQ(match("not (not (not (not (pid = 200))))"), Uids{"smb2-stats"});
}

TEST_F(QueryOperators, RepeatedNotsCancel) {
    std::string query;
    for (int level = 0; level < 40; ++level) query += "not ";
    EXPECT_EQ(match(query + "pid = 200"), Uids{"smb2-stats"});
    EXPECT_EQ(match("not " + query + "pid = 200").count("smb2-stats"), 0u);
}

TEST_F(QueryOperators, Time) {
    Uids recent = match("time > -1h");
    EXPECT_EQ(recent.size(), 6u);
    EXPECT_EQ(recent.count("old-connect"), 0u);
    EXPECT_EQ(match("time < -1h"), Uids{"old-connect"});
    EXPECT_EQ(match("time >= 2023-11-14T22:13:20.300Z"), Uids{"smb1-stats"});
    EXPECT_EQ(match("time = 1700000000200"), Uids{"dns-stats"});
    EXPECT_EQ(match("duration_ms = 0 and protocol = DNS"), Uids{"dns-stats"});
}

TEST_F(QueryOperators, InjectionMatchesNothing) {
    EXPECT_EQ(match("protocol = \"TLS'; DROP TABLE events; --\""), Uids{});
    EXPECT_EQ(match("process = \"x' OR '1'='1\""), Uids{});
    EXPECT_EQ(match("process ~ \"*' OR 1=1 --\""), Uids{});
    EXPECT_EQ(match("connection_uid = \"\\\"); DELETE FROM events; --\""), Uids{});
    EXPECT_EQ(testing::count_rows(dir_->file("events.db")), 7);
}

}  // namespace
}  // namespace pw::store
