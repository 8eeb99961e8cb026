// ICMP, ICMPv6 and IGMP labels, and when echo messages count as carrying data.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_icmp_detector();

namespace {

using Bytes = std::vector<uint8_t>;

decode::IpAddress v4(uint8_t last_byte) {
    const uint8_t raw[4] = {192, 0, 2, last_byte};
    return decode::IpAddress::v4(raw);
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_icmp_detector();
    Verdict last = Verdict::kContinue;
    uint64_t count = 0;

    explicit Flow(Transport transport) : session(transport, v4(1), 0, v4(2), 0) {}

    // `body` is the message after its 8-byte header, as the decoder hands it over.
    Verdict send(uint8_t type, const Bytes& body = {}) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        packet.icmp_type = type;
        last = detector->inspect(session, Segment{body, true, count++, &packet});
        return last;
    }
    bool has(ProtocolId id) const { return session.has(id); }
};

TEST(IcmpDetector, EchoWithData) {
    Flow flow(Transport::kIcmp);
    EXPECT_EQ(flow.send(8, Bytes(56, 0x61)), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::ICMP));
    EXPECT_TRUE(flow.has(ProtocolId::ICMP_DATA));
}

TEST(IcmpDetector, EchoWithoutData) {
    Flow flow(Transport::kIcmp);
    EXPECT_EQ(flow.send(8), Verdict::kContinue);
    EXPECT_TRUE(flow.has(ProtocolId::ICMP));
    EXPECT_FALSE(flow.has(ProtocolId::ICMP_DATA));
}

TEST(IcmpDetector, ErrorQuotingPacketIsNotData) {
    Bytes quoted(28, 0x45);  // an IP header and 8 bytes of the datagram that failed
    for (uint8_t type : {3, 11}) {
        Flow flow(Transport::kIcmp);
        EXPECT_EQ(flow.send(type, quoted), Verdict::kContinue);
        EXPECT_TRUE(flow.has(ProtocolId::ICMP));
        EXPECT_FALSE(flow.has(ProtocolId::ICMP_DATA));
    }
}

TEST(IcmpDetector, EchoDataAfterOtherMessages) {
    // An error or an empty ping before the echo data does not hide it.
    Flow flow(Transport::kIcmp);
    EXPECT_EQ(flow.send(3, Bytes(28, 0x45)), Verdict::kContinue);
    EXPECT_EQ(flow.send(8), Verdict::kContinue);
    EXPECT_EQ(flow.send(0, Bytes(32, 0)), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::ICMP_DATA));
}

TEST(IcmpDetector, SearchEndsAfterBound) {
    Flow flow(Transport::kIcmp);
    Verdict verdict = Verdict::kContinue;
    int messages = 0;
    while (verdict == Verdict::kContinue && messages < 1000) {
        verdict = flow.send(8);
        ++messages;
    }
    EXPECT_EQ(verdict, Verdict::kDone);
    EXPECT_EQ(messages, 64);
    EXPECT_FALSE(flow.has(ProtocolId::ICMP_DATA));
}

TEST(IcmpDetector, Icmpv6EchoWithData) {
    Flow flow(Transport::kIcmpv6);
    flow.send(128, Bytes(32, 0x20));
    EXPECT_TRUE(flow.has(ProtocolId::ICMPV6));
    EXPECT_TRUE(flow.has(ProtocolId::ICMPV6_DATA));
    EXPECT_FALSE(flow.has(ProtocolId::ICMP));
}

TEST(IcmpDetector, NeighbourDiscoveryIsNotData) {
    Flow solicitation(Transport::kIcmpv6);
    solicitation.send(135, Bytes(24, 0xfe));  // target address and a link-layer option
    EXPECT_TRUE(solicitation.has(ProtocolId::ICMPV6));
    EXPECT_FALSE(solicitation.has(ProtocolId::ICMPV6_DATA));
    Flow report(Transport::kIcmpv6);
    report.send(143, Bytes(20, 0x04));  // an MLDv2 report
    EXPECT_TRUE(report.has(ProtocolId::ICMPV6));
    EXPECT_FALSE(report.has(ProtocolId::ICMPV6_DATA));
}

TEST(IcmpDetector, Igmp) {
    Flow flow(Transport::kIgmp);
    EXPECT_EQ(flow.send(0x16), Verdict::kDone);
    EXPECT_TRUE(flow.has(ProtocolId::IGMP));
}

TEST(IcmpDetector, OtherTransportsAreNotMine) {
    auto detector = make_icmp_detector();
    EXPECT_FALSE(detector->wants(Transport::kTcp));
    EXPECT_FALSE(detector->wants(Transport::kUdp));
    EXPECT_TRUE(detector->wants(Transport::kIgmp));
}

TEST(IcmpDetector, SegmentWithoutPacket) {
    Flow flow(Transport::kIcmp);
    Bytes body(8, 1);
    EXPECT_EQ(flow.detector->inspect(flow.session, Segment{body, true, 0, nullptr}),
              Verdict::kContinue);
    EXPECT_TRUE(flow.has(ProtocolId::ICMP));
    EXPECT_FALSE(flow.has(ProtocolId::ICMP_DATA));
}

}  // namespace
}  // namespace pw::detect
