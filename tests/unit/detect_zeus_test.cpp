// GameOver Zeus P2P detection, with messages built from the layout in Arbor Networks'
// ZeusGameover.py (2013) and the message types of CERT Polska's "ZeuS-P2P monitoring and
// analysis" report: a 44-byte header, the payload and random padding, XOR-chained whole.

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "detect/zeus.h"

namespace pw::detect {
namespace {

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Each byte XORed with the encrypted byte before it, the first left as it is.
std::string visual_encrypt(std::string plain) {
    for (size_t i = 1; i < plain.size(); ++i) plain[i] = static_cast<char>(plain[i] ^ plain[i - 1]);
    return plain;
}

std::string id(char fill) { return std::string(20, fill); }

std::string message(uint8_t type, const std::string& session, const std::string& source,
                    const std::string& payload, uint8_t padding) {
    std::string plain;
    plain += '\x5c';  // the random byte
    plain += '\x73';  // TTL
    plain += static_cast<char>(padding);
    plain += static_cast<char>(type);
    plain += session + source + payload;
    std::mt19937 random(type + padding);
    for (int i = 0; i < padding; ++i) plain += static_cast<char>(random());
    return visual_encrypt(plain);
}

// Binary version, configuration version, TCP port.
const std::string kVersionReply = std::string("\x07\x00\x00\x00\x2a\x00\x00\x00\x8c\x33", 10);

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_zeus_detector();
    uint64_t offsets[2] = {0, 0};

    explicit Flow(Transport transport) : session(transport, address(1), 21011, address(2), 17521) {}

    static decode::IpAddress address(uint8_t last) {
        const uint8_t raw[4] = {203, 0, 113, last};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        uint64_t& offset = offsets[from_initiator ? 0 : 1];
        Verdict verdict =
            detector->inspect(session, Segment{bytes(data), from_initiator, offset, nullptr});
        offset += session.transport() == Transport::kTcp ? data.size() : 1;
        return verdict;
    }
};

TEST(ZeusHeader, DecodesChain) {
    std::string m = message(0x01, id('s'), id('b'), kVersionReply, 17);
    std::optional<ZeusHeader> header = decode_zeus_header(bytes(m), m.size());
    ASSERT_TRUE(header.has_value());
    EXPECT_EQ(header->random, 0x5c);
    EXPECT_EQ(header->ttl, 0x73);
    EXPECT_EQ(header->padding, 17);
    EXPECT_EQ(header->type, 0x01);
    EXPECT_EQ(std::string(header->session_id.begin(), header->session_id.end()), id('s'));
    EXPECT_EQ(std::string(header->source_id.begin(), header->source_id.end()), id('b'));
    EXPECT_EQ(header->payload_length, kVersionReply.size());
}

TEST(ZeusHeader, RejectsShortOrZeroRandom) {
    std::string m = message(0x00, id('s'), id('b'), "", 200);
    EXPECT_FALSE(decode_zeus_header(bytes(m.substr(0, 43)), 43).has_value());
    EXPECT_FALSE(decode_zeus_header(bytes(m.substr(0, 100)), 100).has_value());
    std::string zero = m;
    zero[0] = '\0';
    EXPECT_FALSE(decode_zeus_header(bytes(zero), zero.size()).has_value());
}

TEST(ZeusDetector, VersionExchange) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, message(0x00, id('s'), id('a'), "", 33)), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::ZEUS_P2P));
    EXPECT_EQ(flow.send(false, message(0x01, id('s'), id('b'), kVersionReply, 90)), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::ZEUS_P2P));
}

TEST(ZeusDetector, PeerListExchange) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, message(0x02, id('t'), id('a'), id('k') + "12345678", 5)),
              Verdict::kContinue);
    EXPECT_EQ(flow.send(false, message(0x03, id('t'), id('b'), std::string(90, 'p'), 0)),
              Verdict::kDone);
}

TEST(ZeusDetector, ReplyToOtherSession) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, message(0x00, id('s'), id('a'), "", 33)), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, message(0x01, id('x'), id('b'), kVersionReply, 9)),
              Verdict::kContinue);
    EXPECT_EQ(flow.send(false, message(0x03, id('s'), id('b'), kVersionReply, 9)),
              Verdict::kContinue);  // a peer list reply to a version request
    EXPECT_EQ(flow.send(true, message(0x01, id('s'), id('b'), kVersionReply, 9)),
              Verdict::kContinue);  // the requester's own direction
    EXPECT_FALSE(flow.session.has(ProtocolId::ZEUS_P2P));
}

TEST(ZeusDetector, ReplyPayloadMustFit) {
    Flow flow(Transport::kUdp);
    EXPECT_EQ(flow.send(true, message(0x02, id('t'), id('a'), id('k'), 5)), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, message(0x03, id('t'), id('b'), std::string(44, 'p'), 0)),
              Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::ZEUS_P2P));
}

TEST(ZeusDetector, OtherDatagram) {
    Flow flow(Transport::kUdp);
    std::string dns =
        std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12) + std::string(40, 'q');
    EXPECT_EQ(flow.send(true, dns), Verdict::kNotMine);
}

TEST(ZeusDetector, TcpResourceRequest) {
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, message(0x68, id('r'), id('a'), "", 77)), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, message(0x6A, id('r'), id('b'), std::string(300, 'c'), 3)),
              Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::ZEUS_P2P));
}

TEST(ZeusDetector, TcpReplyOfOtherSession) {
    Flow flow(Transport::kTcp);
    EXPECT_EQ(flow.send(true, message(0x64, id('r'), id('a'), "", 7)), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, message(0x66, id('z'), id('b'), "", 3)), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::ZEUS_P2P));
}

TEST(ZeusDetector, TcpProxyRequest) {
    Flow flow(Transport::kTcp);
    std::string http = "POST /write HTTP/1.1\r\nHost: localhost\r\n\r\n";
    EXPECT_EQ(flow.send(true, message(0xCC, id('p'), id('a'), http, 12)), Verdict::kDone);
    Flow other(Transport::kTcp);
    EXPECT_EQ(other.send(true, message(0xCC, id('p'), id('a'), "binary!!", 12)), Verdict::kNotMine);
}

TEST(ZeusDetector, TcpMidStream) {
    Flow flow(Transport::kTcp);
    flow.offsets[0] = 1000;
    EXPECT_EQ(flow.send(true, message(0x68, id('r'), id('a'), "", 77)), Verdict::kNotMine);
}

}  // namespace
}  // namespace pw::detect
