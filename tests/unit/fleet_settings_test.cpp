#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "fleet/nats_settings.h"
#include "fleet/search_messages.h"
#include "fleet/subjects.h"
#include "store/publish_cursor.h"
#include "store/schema.h"
#include "store_test_helpers.h"

namespace pw::fleet {
namespace {

// The message of the std::invalid_argument that validate() throws, or "" when it passes.
std::string validation_error(const NatsSettings& settings) {
    try {
        validate(settings);
    } catch (const std::invalid_argument& error) {
        return error.what();
    }
    return "";
}

TEST(FleetSubjects, DeviceBecomesOneToken) {
    EXPECT_EQ(subject_token("web-1"), "web-1");
    EXPECT_EQ(subject_token("web.example.com"), "web_example_com");
    EXPECT_EQ(subject_token("a b*c>d"), "a_b_c_d");
    // Presence keys keep names apart that subject tokens merge.
    EXPECT_EQ(presence_key("web-1"), "web-1");
    EXPECT_EQ(presence_key("web.1"), "web_2e1");
    EXPECT_EQ(presence_key("web_1"), "web_5f1");
    EXPECT_EQ(presence_key("h\xc3\xa9"), "h_c3_a9");
    EXPECT_EQ(subject_token(""), "unknown");
    EXPECT_EQ(event_subject("pw", "host.lan", events::Activity::kStatistics),
              "pw.events.host_lan.statistics");
    EXPECT_EQ(presence_bucket("corp.pw"), "corp_pw_agents");
}

TEST(FleetSettings, RedactsPasswords) {
    EXPECT_EQ(redact_url("nats://agent:secret@127.0.0.1:4222"), "nats://agent:***@127.0.0.1:4222");
    EXPECT_EQ(redact_url("nats://token@127.0.0.1:4222"), "nats://***@127.0.0.1:4222");
    EXPECT_EQ(redact_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
    // A password that contains '@', and several servers in one string.
    EXPECT_EQ(redact_url("tls://agent:S3c@ret@127.0.0.1:4222"), "tls://agent:***@127.0.0.1:4222");
    EXPECT_EQ(redact_url("nats://a:one@127.0.0.1:4222,nats://b:two@127.0.0.1:4223"),
              "nats://a:***@127.0.0.1:4222,nats://b:***@127.0.0.1:4223");
    EXPECT_EQ(redact_url("nats://127.0.0.1:4222/path@x"), "nats://127.0.0.1:4222/path@x");
}

TEST(FleetSettings, DefaultServerIsLoopback) {
    NatsSettings settings;
    ASSERT_EQ(server_urls(settings).size(), 1u);
    EXPECT_EQ(server_urls(settings).front(), "nats://127.0.0.1:4222");
    EXPECT_EQ(validation_error(settings), "");
}

TEST(FleetSettings, RejectsInvalidValues) {
    NatsSettings settings;
    settings.servers = {"http://agent:secret@127.0.0.1:4222"};
    std::string error = validation_error(settings);
    EXPECT_NE(error.find("invalid NATS server URL"), std::string::npos) << error;
    EXPECT_EQ(error.find("secret"), std::string::npos) << error;

    settings = NatsSettings{};
    settings.creds_file = "/nonexistent/agent.creds";
    EXPECT_NE(validation_error(settings).find("/nonexistent/agent.creds"), std::string::npos);

    settings = NatsSettings{};
    settings.stream = "EVENTS.ALL";
    EXPECT_NE(validation_error(settings).find("invalid stream name"), std::string::npos);

    settings = NatsSettings{};
    settings.subject_prefix = "pw.>";
    EXPECT_NE(validation_error(settings).find("invalid subject prefix"), std::string::npos);

    settings = NatsSettings{};
    settings.replicas = 7;
    EXPECT_NE(validation_error(settings).find("invalid replicas 7"), std::string::npos);

    settings = NatsSettings{};
    settings.tls_cert = "/etc/hostname";
    EXPECT_NE(validation_error(settings).find("tls_key"), std::string::npos);
}

TEST(FleetSettings, RejectsPortsOutOfRange) {
    NatsSettings settings;
    for (const char* url : {"nats://127.0.0.1:79758", "nats://127.0.0.1:0", "tls://[::1]:65536",
                            "nats://127.0.0.1:42x"}) {
        settings.servers = {url};
        EXPECT_NE(validation_error(settings).find("is not a number from 1 to 65535"),
                  std::string::npos)
            << url;
    }
    for (const char* url :
         {"nats://127.0.0.1:65535", "nats://[::1]:4222", "nats://[::1]", "nats://localhost"}) {
        settings.servers = {url};
        EXPECT_EQ(validation_error(settings), "") << url;
    }
}

TEST(FleetSettings, RejectsCredentialFilesWithoutContent) {
    store::testing::TempDir dir;
    std::string empty = dir.file("empty.creds");
    { std::ofstream touch(empty); }
    for (const std::string& path : {empty, dir.path().string(), std::string("/dev/zero")}) {
        NatsSettings settings;
        settings.creds_file = path;
        EXPECT_NE(validation_error(settings).find("is not a regular file with content"),
                  std::string::npos)
            << path;
    }
}

TEST(FleetSettings, TlsSchemeRequiresTls) {
    NatsSettings settings;
    EXPECT_FALSE(requires_tls(settings));
    settings.servers = {"tls://127.0.0.1:4222", "tls://127.0.0.1:4223"};
    EXPECT_TRUE(requires_tls(settings));
    settings.servers = {"nats://127.0.0.1:4222", "tls://127.0.0.1:4223"};
    EXPECT_NE(validation_error(settings).find("mix tls:// and nats://"), std::string::npos);
    settings.servers = {"nats://127.0.0.1:4222"};
    settings.tls_ca = "/etc/ssl/ca.pem";
    EXPECT_TRUE(requires_tls(settings));
}

TEST(FleetSearchMessages, RequestRoundTrip) {
    SearchRequest request;
    request.query = "protocol = DNS";
    request.limit = 10;
    request.chunk_events = 3;
    request.window = 2;
    SearchRequest decoded = decode_request(encode_request(request));
    EXPECT_EQ(decoded.query, "protocol = DNS");
    EXPECT_EQ(decoded.limit, 10u);
    EXPECT_EQ(decoded.chunk_events, 3u);
    EXPECT_EQ(decoded.window, 2u);
}

TEST(FleetSearchMessages, RejectsInvalidRequests) {
    EXPECT_THROW(decode_request("not json"), std::invalid_argument);
    EXPECT_THROW(decode_request(R"({"limit": 3})"), std::invalid_argument);
    EXPECT_THROW(decode_request(R"({"query": "x", "window": 0})"), std::invalid_argument);
    EXPECT_THROW(decode_request(R"({"query": "x", "limit": -1})"), std::invalid_argument);
}

TEST(FleetSearchMessages, ReplyRoundTrip) {
    SearchReply reply;
    reply.type = ReplyType::kError;
    reply.device = "web-1";
    reply.notes.push_back("invalid query 'x': unknown field");
    SearchReply decoded = decode_reply(encode_reply(reply));
    EXPECT_EQ(decoded.type, ReplyType::kError);
    EXPECT_EQ(decoded.device, "web-1");
    ASSERT_EQ(decoded.notes.size(), 1u);
    EXPECT_EQ(decoded.notes.front(), "invalid query 'x': unknown field");
    EXPECT_THROW(decode_reply(R"({"type": "bogus"})"), std::invalid_argument);
}

TEST(PublishCursor, MovesOnlyForward) {
    store::testing::TempDir dir;
    std::string path = dir.file("events.db");
    store::testing::write_events(path, {store::testing::numbered_event(1)});
    store::PublishCursor cursor = store::PublishCursor::open(path, "EVENTS");
    EXPECT_EQ(cursor.load(), 0);
    cursor.save(5, 1000);
    EXPECT_EQ(cursor.load(), 5);
    cursor.save(3, 2000);
    EXPECT_EQ(cursor.load(), 5);
    store::PublishCursor other = store::PublishCursor::open(path, "OTHER");
    EXPECT_EQ(other.load(), 0);
}

// A publisher loads its cursor once and saves it after each round, while a writer commits
// events in between. The load must not leave a read transaction open: saving on top of an
// old snapshot fails at once, whatever the busy timeout.
TEST(PublishCursor, SavesAfterOtherCommits) {
    store::testing::TempDir dir;
    std::string path = dir.file("events.db");
    store::testing::write_events(path, {store::testing::numbered_event(1)});
    store::PublishCursor::open(path, "EVENTS").save(1, 500);
    store::PublishCursor cursor = store::PublishCursor::open(path, "EVENTS");
    EXPECT_EQ(cursor.load(), 1);
    store::testing::write_events(path, {store::testing::numbered_event(2)});
    EXPECT_NO_THROW(cursor.save(2, 1000));
    EXPECT_EQ(cursor.load(), 2);
    store::testing::write_events(path, {store::testing::numbered_event(3)});
    EXPECT_NO_THROW(cursor.save(3, 2000));
    EXPECT_EQ(cursor.load(), 3);
}

// A reader who may not write the store's directory needs the -wal and -shm files, which
// the cursor's connection, the last to close, must leave in place.
TEST(PublishCursor, LeavesWalFiles) {
    store::testing::TempDir dir;
    std::string path = dir.file("events.db");
    store::testing::write_events(path, {store::testing::numbered_event(1)});
    store::PublishCursor::open(path, "EVENTS").save(1, 500);
    EXPECT_TRUE(std::filesystem::exists(path + "-wal"));
    EXPECT_TRUE(std::filesystem::exists(path + "-shm"));
}

TEST(PublishCursor, RejectsMissingStore) {
    EXPECT_THROW(store::PublishCursor::open("/nonexistent/events.db", "EVENTS"), store::StoreError);
}

}  // namespace
}  // namespace pw::fleet
