#include <gtest/gtest.h>

#include "events/json.h"

namespace pw::events {
namespace {

Event statistics_event() {
    Event event;
    event.activity = Activity::kStatistics;
    event.time_ms = 1700000002456;
    event.ip_protocol = 6;
    event.source_ip = "192.0.2.10";
    event.source_port = 51000;
    event.target_ip = "2001:db8::7";
    event.target_port = 443;
    event.direction = Direction::kOutbound;
    event.connection_uid = "C0123456789abcdef";
    event.protocols = {ProtocolId::TLS, ProtocolId::TLS_ALPN_H2};
    event.bytes_in = 5518;
    event.bytes_out = 558;
    event.packets_in = 16;
    event.packets_out = 23;
    event.start_time_ms = 1700000000123;
    event.end_time_ms = 1700000002456;
    return event;
}

TEST(EventJson, StatisticsFields) {
    auto object = to_json(statistics_event());
    EXPECT_EQ(object["type_id"], 8007);
    EXPECT_EQ(object["id"], 3);
    EXPECT_EQ(object["protocols"][0]["name"], "TLS");
    EXPECT_EQ(object["protocols"][1]["id"], 483);
    EXPECT_EQ(object["duration_ms"], 2333);
    EXPECT_FALSE(object.contains("reason"));
    EXPECT_FALSE(object.contains("partial"));
}

TEST(EventJson, FieldsInSchemaOrder) {
    std::string line = to_json_line(statistics_event());
    EXPECT_EQ(line.rfind("{\"type_id\":8007,\"id\":3,\"time\":", 0), 0u) << line;
}

TEST(EventJson, DisconnectReason) {
    Event event = statistics_event();
    event.activity = Activity::kDisconnect;
    event.reason = EndReason::kEndOfInput;
    auto object = to_json(event);
    EXPECT_EQ(object["reason"], "end_of_input");
    EXPECT_FALSE(object.contains("protocols"));
}

TEST(EventJson, RoundTrip) {
    Event event = statistics_event();
    event.process = Process{42, "curl", "/usr/bin/curl", "curl https://x", 1000, "alice", ""};
    Event back = from_json(nlohmann::json::parse(to_json_line(event)));
    EXPECT_EQ(back.protocols, event.protocols);
    EXPECT_EQ(back.bytes_out, event.bytes_out);
    EXPECT_EQ(back.target_ip, event.target_ip);
    ASSERT_TRUE(back.process.has_value());
    EXPECT_EQ(back.process->name, "curl");
    EXPECT_EQ(back.process->pid, 42);
}

TEST(EventJson, MissingFieldNamed) {
    auto object = nlohmann::json::parse(R"({"type_id":8007,"id":1,"time":5})");
    try {
        from_json(object);
        FAIL() << "from_json accepted an event without ip_protocol";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("ip_protocol"), std::string::npos);
    }
}

TEST(EventJson, WrongTypeNamed) {
    auto object = nlohmann::json::parse(
        R"({"type_id":8007,"id":1,"time":"soon","ip_protocol":6,"source_ip":"a","target_ip":"b"})");
    EXPECT_THROW(from_json(object), std::invalid_argument);
}

// Found by fuzzing: converting 9.9e39 to uint64_t was undefined behavior.
TEST(EventJson, HugeNumberRejected) {
    auto object = nlohmann::json::parse(
        R"({"type_id":8007,"id":3,"time":1,"ip_protocol":6,"source_ip":"a","target_ip":"b",)"
        R"("bytes_in":9888888888888888888888888888888888888880})");
    try {
        from_json(object);
        FAIL() << "from_json accepted bytes_in 9.9e39";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("bytes_in"), std::string::npos);
    }
}

TEST(EventJson, FractionRejected) {
    auto object = nlohmann::json::parse(
        R"({"type_id":8007,"id":1,"time":1.5,"ip_protocol":6,"source_ip":"a","target_ip":"b"})");
    EXPECT_THROW(from_json(object), std::invalid_argument);
}

TEST(EventJson, OutOfRangePortRejected) {
    auto object = nlohmann::json::parse(
        R"({"type_id":8007,"id":1,"time":1,"ip_protocol":6,"source_ip":"a","target_ip":"b",)"
        R"("source_port":70000})");
    try {
        from_json(object);
        FAIL() << "from_json accepted source_port 70000";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("out of range"), std::string::npos);
    }
}

TEST(EventJson, BadActivityRejected) {
    auto object = nlohmann::json::parse(
        R"({"type_id":8007,"id":9,"time":1,"ip_protocol":6,"source_ip":"a","target_ip":"b"})");
    EXPECT_THROW(from_json(object), std::invalid_argument);
}

TEST(EventJson, NestingDepth) {
    EXPECT_FALSE(nests_deeper_than("", 1));
    EXPECT_FALSE(nests_deeper_than(R"({"a": [1, {"b": 2}]})", 3));
    EXPECT_TRUE(nests_deeper_than(R"({"a": [1, {"b": 2}]})", 2));
    // Brackets in strings, escaped quotes included, are not nesting.
    EXPECT_FALSE(nests_deeper_than(R"({"a": "[[[\"[[["})", 1));
    EXPECT_TRUE(nests_deeper_than(std::string(100'000, '[') + std::string(100'000, ']'), 32));
}

}  // namespace
}  // namespace pw::events
