#include <gtest/gtest.h>

#include "decode/layers.h"
#include "decode_frames.h"

namespace pw::decode::test {
namespace {

Frame payload5() { return bytes({1, 2, 3, 4, 5}); }

TEST(DecodeIpv4, OptionsAreSkipped) {
    Ipv4Options extra;
    extra.options = bytes({0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00});  // router alert, NOPs
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, udp(53, 5353, payload5()), kClient4,
                                        kServer4, extra)),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source_port, 53);
    EXPECT_EQ(decoded.payload(), payload5());
}

TEST(DecodeIpv4, BadHeaderLength) {
    Frame frame = ipv4(ip_protocol::kUdp, udp(1, 2, payload5()));
    frame[0] = 0x44;  // 16 bytes: less than the minimum
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, frame), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadIpv4HeaderLength), 1u);

    frame[0] = 0x4F;  // 60 bytes: more than the frame has
    Frame short_frame(frame.begin(), frame.begin() + 40);
    EXPECT_EQ(decoded.run(DLT_RAW, short_frame), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedIpv4), 1u);
}

TEST(DecodeIpv4, WrongVersion) {
    Frame frame = ipv4(ip_protocol::kUdp, udp(1, 2));
    frame[0] = 0x65;
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_EN10MB, ethernet(0x0800, frame)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadIpVersion), 1u);
}

TEST(DecodeIpv4, TotalLengthShorterThanHeader) {
    Ipv4Options extra;
    extra.total_length = 19;
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, udp(1, 2), kClient4, kServer4, extra)),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadIpv4TotalLength), 1u);
}

TEST(DecodeIpv4, TotalLengthLongerThanFrameIsCountedAndClamped) {
    Ipv4Options extra;
    extra.total_length = 500;
    Decoded decoded;
    Frame frame = ipv4(ip_protocol::kTcp, tcp(1, 2, payload5()), kClient4, kServer4, extra);
    ASSERT_EQ(decoded.run(DLT_RAW, frame), DecodeResult::kPacket);
    EXPECT_EQ(decoded.count(Anomaly::kBadIpv4TotalLength), 1u);
    EXPECT_EQ(decoded.packet.payload_length, 5u);
}

TEST(DecodeIpv4, TotalLengthZeroIsSegmentationOffload) {
    Ipv4Options extra;
    extra.total_length = 0;
    Decoded decoded;
    Frame frame = ipv4(ip_protocol::kTcp, tcp(1, 2, filler(3000)), kClient4, kServer4, extra);
    ASSERT_EQ(decoded.run(DLT_RAW, frame), DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.payload_length, 3000u);
    EXPECT_EQ(decoded.decoder.anomalies().total(), 0u);
}

TEST(DecodeIpv4, CutBySnapshotLength) {
    Frame frame = ethernet(0x0800, ipv4(ip_protocol::kTcp, tcp(1, 2, filler(1000))));
    Frame captured(frame.begin(), frame.begin() + 96);
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_EN10MB, captured, 1, static_cast<int64_t>(frame.size())),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.payload_length, 1000u);
    EXPECT_EQ(decoded.packet.payload.size(), 96u - 14 - 20 - 20);
    EXPECT_EQ(decoded.packet.wire_length, frame.size());
    EXPECT_EQ(decoded.count(Anomaly::kPacketTruncatedBySnaplen), 1u);
}

// SCTP and ESP, which have no decoder of their own, are flows without ports whose payload
// is all that follows the IP header.
TEST(DecodeIpv4, OtherProtocolsAreFlowsWithoutPorts) {
    for (uint8_t protocol : {132, 50}) {
        Decoded decoded;
        ASSERT_EQ(decoded.run(DLT_RAW, ipv4(protocol, Frame(12, 7))), DecodeResult::kPacket);
        EXPECT_EQ(decoded.packet.ip_protocol, protocol);
        EXPECT_EQ(decoded.packet.source_port, 0);
        EXPECT_EQ(decoded.packet.target_port, 0);
        EXPECT_EQ(decoded.payload(), Frame(12, 7));
        EXPECT_EQ(decoded.decoder.anomalies().total(), 0u);
    }
}

TEST(DecodeIpv4, AuthenticationHeader) {
    Frame ah = bytes({ip_protocol::kUdp, 4, 0, 0});  // (4 + 2) * 4 = 24 bytes
    ah.resize(24, 0xA5);
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(51, ah + udp(500, 500, payload5()))),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kUdp);
    EXPECT_EQ(decoded.payload(), payload5());
}

TEST(DecodeIpv6, Plain) {
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv6(ip_protocol::kUdp, udp(1000, 53, payload5()))),
              DecodeResult::kPacket);
    EXPECT_TRUE(decoded.packet.source.is_v6);
    EXPECT_EQ(decoded.packet.source.to_string(), "2001:db8::1");
    EXPECT_EQ(decoded.packet.target.to_string(), "2001:db8::2");
    EXPECT_EQ(decoded.packet.payload_length, 5u);
}

TEST(DecodeIpv6, ExtensionHeaderChain) {
    // hop-by-hop -> routing (24 bytes) -> destination options -> AH -> TCP
    Frame ah = bytes({ip_protocol::kTcp, 1, 0, 0});  // (1 + 2) * 4 = 12 bytes
    ah.resize(12, 0);
    Frame chain = ipv6_extension(43) + ipv6_extension(60, 2) + ipv6_extension(51) + ah;
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv6(0, chain + tcp(1, 2, payload5()))), DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kTcp);
    EXPECT_EQ(decoded.payload(), payload5());
}

TEST(DecodeIpv6, EspAndNoNextHeaderEndTheChain) {
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv6(60, ipv6_extension(50) + Frame(20, 0))),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, 50);
    EXPECT_EQ(decoded.payload(), Frame(20, 0));
    EXPECT_EQ(decoded.run(DLT_RAW, ipv6(59, {})), DecodeResult::kNotTracked);
    EXPECT_EQ(decoded.decoder.anomalies().total(), 0u);
}

TEST(DecodeIpv6, NineExtensionHeadersTracked) {
    Frame chain;
    for (int i = 0; i < 8; ++i) chain = chain + ipv6_extension(60);
    chain = chain + ipv6_extension(ip_protocol::kUdp);
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, ipv6(60, chain + udp(1, 2))), DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kUdp);
}

TEST(DecodeIpv6, TooManyExtensionHeaders) {
    Frame chain;
    for (int i = 0; i < detail::kMaxIpExtensions + 1; ++i) chain = chain + ipv6_extension(60);
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, ipv6(60, chain + udp(1, 2))), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTooManyIpv6Extensions), 1u);
}

TEST(DecodeIpv6, TruncatedExtensionHeader) {
    Frame extension = ipv6_extension(ip_protocol::kUdp, 3);  // claims 32 bytes
    extension.resize(16);
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, ipv6(0, extension)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedIpv6Extension), 1u);
}

TEST(DecodeIpv6, PayloadLengthLongerThanFrame) {
    Frame frame = ipv6(ip_protocol::kUdp, udp(1, 2, payload5()));
    frame[4] = 0x10;  // 4096 + ...
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, frame), DecodeResult::kPacket);
    EXPECT_EQ(decoded.count(Anomaly::kBadIpv6PayloadLength), 1u);
    EXPECT_EQ(decoded.packet.payload_length, 5u);
}

TEST(DecodeIpv6, TruncatedHeader) {
    Frame frame = ipv6(ip_protocol::kUdp, udp(1, 2));
    frame.resize(39);
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, frame), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedIpv6), 1u);
}

}  // namespace
}  // namespace pw::decode::test
