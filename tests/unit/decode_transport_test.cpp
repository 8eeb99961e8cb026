#include <gtest/gtest.h>

#include "decode_frames.h"

namespace pw::decode::test {
namespace {

TEST(DecodeTcp, Fields) {
    Frame options = bytes({0x02, 0x04, 0x05, 0xB4, 0x01, 0x01, 0x04, 0x02});  // MSS, NOP, SACK ok
    Decoded decoded;
    ASSERT_EQ(
        decoded.run(DLT_RAW, ipv4(ip_protocol::kTcp, tcp(51000, 80, bytes({'G', 'E', 'T'}), 0x12,
                                                         0xDEADBEEF, 0x01020304, options))),
        DecodeResult::kPacket);
    const Packet& packet = decoded.packet;
    EXPECT_EQ(packet.ip_protocol, ip_protocol::kTcp);
    EXPECT_EQ(packet.source_port, 51000);
    EXPECT_EQ(packet.target_port, 80);
    EXPECT_EQ(packet.seq, 0xDEADBEEFu);
    EXPECT_EQ(packet.ack, 0x01020304u);
    EXPECT_EQ(packet.tcp_flags, tcp_flag::kSyn | tcp_flag::kAck);
    EXPECT_EQ(packet.window, 65535);
    EXPECT_EQ(decoded.payload(), bytes({'G', 'E', 'T'}));
    EXPECT_EQ(packet.payload_length, 3u);
}

TEST(DecodeTcp, DataOffsetChecked) {
    Frame segment = tcp(1, 2, bytes({1, 2, 3}));
    segment[12] = 0x40;  // 16 bytes: less than the minimum
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kTcp, segment)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadTcpHeaderLength), 1u);

    segment[12] = 0xF0;  // 60 bytes: more than the segment has
    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kTcp, segment)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadTcpHeaderLength), 2u);

    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kTcp, Frame(19, 0))),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedTcp), 1u);
}

TEST(DecodeTcp, OptionsCutBySnapshotLength) {
    Frame options(20, 0x01);
    Frame frame = ipv4(ip_protocol::kTcp, tcp(1, 2, filler(10), 0x10, 5, 6, options));
    Frame captured(frame.begin(), frame.begin() + 50);  // IP + 30 bytes of a 40-byte header
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, captured, 1, static_cast<int64_t>(frame.size())),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.seq, 5u);
    EXPECT_TRUE(decoded.packet.payload.empty());
    EXPECT_EQ(decoded.packet.payload_length, 10u);
}

// The window scale option (RFC 7323) is read from SYN segments, with shifts over 14 read as
// 14, and ignored in others. Malformed options stop the reading without harm.
TEST(DecodeTcp, WindowScaleOfSyn) {
    auto scale_of = [](uint8_t flags, const Frame& options) {
        Decoded decoded;
        EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kTcp, tcp(1, 2, {}, flags, 5, 6, options))),
                  DecodeResult::kPacket);
        return decoded.packet.window_scale;
    };
    // MSS, SACK permitted, timestamps, NOP, window scale 7: what Linux sends.
    Frame linux_syn = bytes({0x02, 0x04, 0x05, 0xB4, 0x04, 0x02, 0x08, 0x0A, 0, 0, 0, 1,
                             0, 0, 0, 0, 0x01, 0x03, 0x03, 0x07});
    EXPECT_EQ(scale_of(tcp_flag::kSyn, linux_syn), 7);
    EXPECT_EQ(scale_of(tcp_flag::kSyn | tcp_flag::kAck, linux_syn), 7);
    EXPECT_EQ(scale_of(tcp_flag::kAck, linux_syn), kNoWindowScale);
    EXPECT_EQ(scale_of(tcp_flag::kSyn, bytes({0x03, 0x03, 0x1E, 0x00})), 14);
    EXPECT_EQ(scale_of(tcp_flag::kSyn, bytes({0x02, 0x04, 0x05, 0xB4})), kNoWindowScale);
    // After the end of the options, and after a length of 0 or one past the header.
    EXPECT_EQ(scale_of(tcp_flag::kSyn, bytes({0x00, 0x03, 0x03, 0x07})), kNoWindowScale);
    EXPECT_EQ(scale_of(tcp_flag::kSyn, bytes({0x02, 0x00, 0x03, 0x03, 0x07, 0x01, 0x01, 0x01})),
              kNoWindowScale);
    EXPECT_EQ(scale_of(tcp_flag::kSyn, bytes({0x01, 0x01, 0x08, 0x0A})), kNoWindowScale);
    // A window scale option of another length is not one.
    EXPECT_EQ(scale_of(tcp_flag::kSyn, bytes({0x03, 0x04, 0x07, 0x00})), kNoWindowScale);

    // Cut by the snapshot length before the option: not read.
    Frame frame = ipv4(ip_protocol::kTcp, tcp(1, 2, {}, tcp_flag::kSyn, 5, 6, linux_syn));
    Frame captured(frame.begin(), frame.end() - 2);
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, captured, 1, static_cast<int64_t>(frame.size())),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.window_scale, kNoWindowScale);
}

// Tables and the agent's connection list name every tracked transport, IGMP included.
TEST(IpProtocol, Names) {
    EXPECT_EQ(ip_protocol::name(ip_protocol::kIgmp), "igmp");
    EXPECT_EQ(ip_protocol::name(ip_protocol::kIcmpv6), "icmpv6");
    EXPECT_EQ(ip_protocol::name(132), "132");
}

TEST(DecodeUdp, LengthChecked) {
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, udp(5353, 5353, filler(20)))),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.payload_length, 20u);

    Frame datagram = udp(1, 2, filler(20));
    datagram[5] = 7;  // shorter than the header
    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, datagram)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadUdpLength), 1u);

    datagram[5] = 18;  // 10 bytes of payload; the rest is trailing padding
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, datagram)), DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.payload_length, 10u);
    EXPECT_EQ(decoded.packet.payload.size(), 10u);

    datagram[5] = 200;  // longer than the IP payload: counted, kept to the IP payload
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, datagram)), DecodeResult::kPacket);
    EXPECT_EQ(decoded.count(Anomaly::kBadUdpLength), 2u);
    EXPECT_EQ(decoded.packet.payload_length, 20u);

    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, Frame(7, 0))), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedUdp), 1u);
}

TEST(DecodeIcmp, EchoCountsTheDataAfterEightBytes) {
    // A ping: 8 bytes of header (with identifier and sequence) and 56 bytes of data.
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW,
                          ipv4(ip_protocol::kIcmp, icmp(8, 0, bytes({0, 1, 0, 1}) + filler(56)))),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kIcmp);
    EXPECT_EQ(decoded.packet.icmp_type, 8);
    EXPECT_EQ(decoded.packet.icmp_code, 0);
    EXPECT_EQ(decoded.packet.source_port, 0);
    EXPECT_EQ(decoded.packet.payload_length, 56u);
    EXPECT_EQ(decoded.payload(), filler(56));
}

TEST(DecodeIcmp, ErrorCountsTheQuotedPacket) {
    // Port unreachable quoting an IP header and the first 8 bytes of a UDP datagram.
    Frame quoted = ipv4(ip_protocol::kUdp, udp(40000, 53, filler(30)), kServer4, kClient4);
    quoted.resize(28);
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kIcmp, icmp(3, 3, Frame(4, 0) + quoted),
                                        kClient4, kServer4)),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.icmp_type, 3);
    EXPECT_EQ(decoded.packet.icmp_code, 3);
    EXPECT_EQ(decoded.packet.source, address(kClient4));  // the flow is the outer one
    EXPECT_EQ(decoded.packet.payload_length, 28u);
}

TEST(DecodeIcmp, TooShort) {
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kIcmp, bytes({8, 0, 0, 0}))),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedIcmp), 1u);
}

TEST(DecodeIcmpv6, NeighborSolicitation) {
    Frame message = icmp(135, 0, Frame(4, 0) + Frame(16, 0xFE) + bytes({1, 1, 2, 0, 0, 0, 0, 1}));
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv6(ip_protocol::kIcmpv6, message)), DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kIcmpv6);
    EXPECT_EQ(decoded.packet.icmp_type, 135);
    EXPECT_EQ(decoded.packet.payload_length, 24u);  // 32-byte message
}

TEST(DecodeIcmpv6, MldAfterHopByHop) {
    // An MLDv2 report with one record (28 bytes) after a router-alert hop-by-hop header.
    Frame report = icmp(143, 0, bytes({0, 0, 0, 1}) + Frame(20, 0));
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, ipv6(0, ipv6_extension(ip_protocol::kIcmpv6) + report)),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.icmp_type, 143);
    EXPECT_EQ(decoded.packet.payload_length, 20u);
}

TEST(DecodeIgmp, Versions) {
    Ipv4Options router_alert;
    router_alert.options = bytes({0x94, 0x04, 0, 0});
    Decoded decoded;
    // IGMPv2 membership report: 8 bytes, no payload.
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kIgmp, icmp(0x16, 0, bytes({239, 1, 2, 3})),
                                        kClient4, kServer4, router_alert)),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kIgmp);
    EXPECT_EQ(decoded.packet.icmp_type, 0x16);
    EXPECT_EQ(decoded.packet.payload_length, 0u);
    // IGMPv3 report with one group record: 16 bytes, 8 of payload.
    ASSERT_EQ(
        decoded.run(DLT_RAW, ipv4(ip_protocol::kIgmp,
                                  icmp(0x22, 0, bytes({0, 0, 0, 1, 4, 0, 0, 0, 239, 1, 2, 3})),
                                  kClient4, kServer4, router_alert)),
        DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.icmp_type, 0x22);
    EXPECT_EQ(decoded.packet.payload_length, 8u);
    // A query with a maximum response time.
    ASSERT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kIgmp, icmp(0x11, 100, Frame(4, 0)))),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.icmp_code, 100);

    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kIgmp, bytes({0x16, 0, 0}))),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedIgmp), 1u);
}

}  // namespace
}  // namespace pw::decode::test
