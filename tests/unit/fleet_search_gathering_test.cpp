#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "fleet/earliest_events.h"
#include "fleet/search_gathering.h"
#include "fleet/search_messages.h"

namespace pw::fleet {
namespace {

const char* const kEvent =
    R"({"type_id":8007,"id":1,"time":1705312800000,"ip_protocol":6,"source_ip":"192.0.2.10",)"
    R"("source_port":49200,"target_ip":"198.51.100.10","target_port":80,"event_uid":"e1"})";

std::string chunk(const std::string& device, int index, const std::string& events) {
    return R"({"type":"chunk","device":")" + device + R"(","index":)" + std::to_string(index) +
           R"(,"events":[)" + events + "]}";
}

std::string done(const std::string& device, int count) {
    return R"({"type":"done","device":")" + device + R"(","count":)" + std::to_string(count) + "}";
}

class Gathering : public ::testing::Test {
  protected:
    SearchGathering gathering{{"agent-1"}, [this](store::StoredEvent& event) {
                                  received.push_back(event.event.device + " " + event.event_uid);
                              }};
    std::vector<std::string> received;

    AgentAnswer answer(const std::string& device) const {
        for (const AgentAnswer& answer : gathering.answers()) {
            if (answer.device == device) return answer;
        }
        ADD_FAILURE() << "no answer of " << device;
        return {};
    }
};

TEST(FleetSearchMessages, RejectsDeepNesting) {
    std::string deep = R"({"type":"chunk","device":"a","events":)" + std::string(100'000, '[') +
                       std::string(100'000, ']') + "}";
    EXPECT_THROW(decode_reply(deep), std::invalid_argument);
    EXPECT_THROW(decode_request(R"({"query":"x","extra":)" + std::string(40, '[') +
                                std::string(40, ']') + "}"),
                 std::invalid_argument);
    // Brackets inside strings are text, not nesting.
    EXPECT_NO_THROW(decode_request(R"({"query":")" + std::string(100, '[') + R"("})"));
}

TEST(FleetSearchMessages, ChunkEncodesAsReply) {
    SearchReply reply;
    reply.type = ReplyType::kChunk;
    reply.device = "agent-1";
    reply.index = 3;
    reply.events = nlohmann::ordered_json::array();
    EXPECT_EQ(encode_chunk("agent-1", 3, {}), encode_reply(reply));
    reply.events.push_back(nlohmann::ordered_json::parse(kEvent));
    reply.events.push_back(nlohmann::ordered_json::parse(kEvent));
    std::string text = nlohmann::ordered_json::parse(kEvent).dump();
    EXPECT_EQ(encode_chunk("agent-1", 3, {text, text}), encode_reply(reply));
}

TEST(FleetSearchMessages, RejectsFieldsOfWrongType) {
    EXPECT_THROW(decode_reply(R"({"type": 5})"), std::invalid_argument);
    EXPECT_THROW(decode_reply(R"({"type": "chunk", "device": 7})"), std::invalid_argument);
    EXPECT_THROW(decode_reply(R"({"type": "chunk", "events": "x"})"), std::invalid_argument);
    EXPECT_THROW(decode_reply(R"({"type": "chunk", "index": -1})"), std::invalid_argument);
    EXPECT_THROW(decode_reply(R"({"type": "error", "error": []})"), std::invalid_argument);
    EXPECT_THROW(decode_reply("[]"), std::invalid_argument);
}

TEST_F(Gathering, TakesChunksInOrder) {
    EXPECT_FALSE(gathering.handle(R"({"type":"accepted","device":"agent-1"})"));
    EXPECT_EQ(gathering.handle(chunk("agent-1", 0, kEvent)), 0u);
    EXPECT_EQ(gathering.handle(chunk("agent-1", 1, kEvent)), 1u);
    EXPECT_FALSE(gathering.handle(done("agent-1", 2)));
    EXPECT_TRUE(gathering.finished());
    EXPECT_EQ(received, (std::vector<std::string>{"agent-1 e1", "agent-1 e1"}));
    EXPECT_TRUE(answer("agent-1").done);
}

TEST_F(Gathering, IgnoresMalformedReplies) {
    for (const char* text : {"", "not json", "{", R"({"type":5})", R"({"device":"agent-1"})",
                             R"({"type":"chunk","device":[]})"}) {
        EXPECT_FALSE(gathering.handle(text)) << text;
    }
    EXPECT_TRUE(received.empty());
    EXPECT_FALSE(gathering.finished());
    EXPECT_FALSE(answer("agent-1").accepted);
}

TEST_F(Gathering, RepeatedChunkFailsAgent) {
    EXPECT_EQ(gathering.handle(chunk("agent-1", 0, kEvent)), 0u);
    EXPECT_FALSE(gathering.handle(chunk("agent-1", 0, kEvent)));
    EXPECT_FALSE(gathering.handle(done("agent-1", 2)));
    EXPECT_EQ(received.size(), 1u);
    EXPECT_EQ(answer("agent-1").error, "sent chunk 0 where chunk 1 was expected");
    EXPECT_FALSE(answer("agent-1").done);
    EXPECT_TRUE(gathering.finished());
}

TEST_F(Gathering, InvalidEventFailsAgent) {
    EXPECT_FALSE(gathering.handle(chunk("agent-1", 0, R"(1, {"type_id": "x"})")));
    EXPECT_TRUE(received.empty());
    EXPECT_NE(answer("agent-1").error.find("sent an invalid event"), std::string::npos);
}

TEST_F(Gathering, CountMismatchFailsAgent) {
    EXPECT_EQ(gathering.handle(chunk("agent-1", 0, kEvent)), 0u);
    EXPECT_FALSE(gathering.handle(done("agent-1", 5)));
    EXPECT_EQ(answer("agent-1").error, "sent 1 of the 5 events it counted");
}

TEST_F(Gathering, TwoAgentsWithOneDeviceNamed) {
    const std::string accepted = R"({"type":"accepted","device":"agent-1"})";
    gathering.handle(accepted);
    gathering.handle(chunk("agent-1", 0, kEvent));
    gathering.handle(accepted);
    EXPECT_NE(answer("agent-1").error.find("two agents answer as device 'agent-1'"),
              std::string::npos)
        << answer("agent-1").error;
    EXPECT_FALSE(answer("agent-1").done);
}

TEST_F(Gathering, UnknownAgentIsWaitedFor) {
    EXPECT_FALSE(gathering.handle(R"({"type":"accepted","device":"agent-2"})"));
    EXPECT_FALSE(gathering.handle(done("agent-1", 0)));
    EXPECT_FALSE(gathering.finished());
    EXPECT_FALSE(gathering.handle(R"({"type":"error","device":"agent-2","error":""})"));
    EXPECT_TRUE(gathering.finished());
    EXPECT_EQ(answer("agent-2").error, "an error it did not describe");
}

store::StoredEvent event_at(int64_t time_ms, const std::string& device, const std::string& uid) {
    store::StoredEvent stored;
    stored.event.time_ms = time_ms;
    stored.event.device = device;
    stored.event_uid = uid;
    return stored;
}

std::vector<std::string> uids_of(const std::vector<store::StoredEvent>& events) {
    std::vector<std::string> uids;
    for (const store::StoredEvent& stored : events) uids.push_back(stored.event_uid);
    return uids;
}

// Two agents' events interleave as their chunks arrive; the limit holds for the whole
// fleet, and the earliest events win whatever their arrival.
TEST(FleetEarliestEvents, KeepsEarliestAcrossAgents) {
    EarliestEvents earliest(3);
    earliest.add(event_at(50, "agent-1", "a50"));
    earliest.add(event_at(10, "agent-2", "b10"));
    earliest.add(event_at(60, "agent-1", "a60"));
    earliest.add(event_at(20, "agent-2", "b20"));
    earliest.add(event_at(30, "agent-2", "b30"));
    earliest.add(event_at(70, "agent-1", "a70"));
    EXPECT_EQ(uids_of(earliest.take()), (std::vector<std::string>{"b10", "b20", "b30"}));
    EXPECT_TRUE(earliest.take().empty());
}

// Equal times order by device, then within one device by arrival, which is store order.
TEST(FleetEarliestEvents, TiesByDeviceThenArrival) {
    EarliestEvents earliest(4);
    earliest.add(event_at(10, "agent-2", "b1"));
    earliest.add(event_at(10, "agent-1", "a1"));
    earliest.add(event_at(10, "agent-2", "b2"));
    earliest.add(event_at(10, "agent-1", "a2"));
    earliest.add(event_at(10, "agent-1", "a3"));
    earliest.add(event_at(10, "agent-2", "b3"));
    EXPECT_EQ(uids_of(earliest.take()), (std::vector<std::string>{"a1", "a2", "a3", "b1"}));
}

TEST(FleetEarliestEvents, FewerEventsThanLimit) {
    EarliestEvents earliest(10);
    earliest.add(event_at(20, "agent-1", "a20"));
    earliest.add(event_at(10, "agent-1", "a10"));
    EXPECT_EQ(uids_of(earliest.take()), (std::vector<std::string>{"a10", "a20"}));
}

}  // namespace
}  // namespace pw::fleet
