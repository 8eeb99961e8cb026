#include <gtest/gtest.h>

#include "decode_frames.h"

namespace pw::decode::test {
namespace {

constexpr V4 kTunnelA = {198, 51, 100, 1};
constexpr V4 kTunnelB = {198, 51, 100, 2};

Frame inner4() { return ipv4(ip_protocol::kTcp, tcp(50000, 443, bytes({'t', 'l', 's'}))); }
Frame inner6() { return ipv6(ip_protocol::kUdp, udp(5000, 53, bytes({'d', 'n', 's', '!'}))); }

Frame outer4(uint8_t protocol, const Frame& payload) {
    return ethernet(0x0800, ipv4(protocol, payload, kTunnelA, kTunnelB));
}
Frame outer_udp(uint16_t source, uint16_t target, const Frame& payload) {
    return outer4(ip_protocol::kUdp, udp(source, target, payload));
}

void expect_inner4(const Decoded& decoded) {
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kClient4));
    EXPECT_EQ(decoded.packet.target, address(kServer4));
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kTcp);
    EXPECT_EQ(decoded.packet.source_port, 50000);
    EXPECT_EQ(decoded.packet.target_port, 443);
    EXPECT_EQ(decoded.payload(), bytes({'t', 'l', 's'}));
    EXPECT_EQ(decoded.packet.payload_length, 3u);
}

void expect_inner6(const Decoded& decoded) {
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kClient6));
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kUdp);
    EXPECT_EQ(decoded.packet.target_port, 53);
    EXPECT_EQ(decoded.packet.payload_length, 4u);
}

Frame gre(uint16_t flags, uint16_t protocol, const Frame& optional = {}) {
    Frame frame;
    put16(frame, flags);
    put16(frame, protocol);
    return frame + optional;
}

TEST(DecodeTunnel, GreVersion0) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer4(47, gre(0, 0x0800) + inner4()));
    expect_inner4(decoded);
    EXPECT_EQ(decoded.packet.wire_length, inner4().size());  // the inner frame's length

    // checksum, key and sequence number
    decoded.run(DLT_EN10MB, outer4(47, gre(0xB000, 0x86DD, Frame(12, 0)) + inner6()));
    expect_inner6(decoded);

    // transparent Ethernet bridging
    decoded.run(DLT_EN10MB, outer4(47, gre(0x2000, 0x6558, Frame(4, 0)) +
                                           ethernet(0x8100, vlan_tag(5, 0x0800) + inner4())));
    expect_inner4(decoded);
    EXPECT_EQ(decoded.packet.vlan, 5u);

    // RFC 1701 routing: one source route entry and the terminating one
    decoded.run(DLT_EN10MB,
                outer4(47, gre(0x4000, 0x0800,
                               bytes({0, 0, 0, 0, 0, 0x800 >> 8, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0})) +
                               inner4()));
    expect_inner4(decoded);

    EXPECT_EQ(decoded.run(DLT_EN10MB, outer4(47, gre(0x3000, 0x0800, Frame(2, 0)))),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedTunnel), 1u);
}

TEST(DecodeTunnel, Erspan) {
    Decoded decoded;
    // Type I: no sequence number and no header of its own.
    decoded.run(DLT_EN10MB, outer4(47, gre(0, 0x88BE) + ethernet(0x0800, inner4())));
    expect_inner4(decoded);
    // Type II: sequence number, then an 8-byte header.
    decoded.run(DLT_EN10MB,
                outer4(47, gre(0x1000, 0x88BE, Frame(4, 0)) + bytes({0x10, 0, 0, 1, 0, 0, 0, 0}) +
                               ethernet(0x0800, inner4())));
    expect_inner4(decoded);
    // Type III with the optional platform subheader.
    decoded.run(DLT_EN10MB, outer4(47, gre(0x1000, 0x22EB, Frame(4, 0)) +
                                           bytes({0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1}) +
                                           Frame(8, 0) + ethernet(0x86DD, inner6())));
    expect_inner6(decoded);
}

TEST(DecodeTunnel, ArubaGreCarries80211) {
    // An access point's QoS data frame, from the station to the distribution system.
    Frame wifi = bytes({0x88, 0x01, 0, 0});
    wifi.resize(24, 0x11);
    wifi = wifi + bytes({0, 0}) + llc_snap(0x0800) + inner4();
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer4(47, gre(0, 0x8240) + wifi));
    expect_inner4(decoded);
    // Types off the 0x10 steps are plain EtherTypes, unknown here.
    EXPECT_EQ(decoded.run(DLT_EN10MB, outer4(47, gre(0, 0x8241) + wifi)),
              DecodeResult::kNotTracked);
}

TEST(DecodeTunnel, PptpEnhancedGre) {
    Frame ppp = bytes({0xFF, 0x03, 0x00, 0x21}) + inner4();
    Frame key;
    put16(key, static_cast<uint16_t>(ppp.size()));
    put16(key, 0x1234);  // call id
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer4(47, gre(0x3001, 0x880B, key + Frame(4, 0)) + ppp));
    expect_inner4(decoded);
    // An acknowledgment alone carries no packet.
    Frame empty_key = bytes({0, 0, 0x12, 0x34});
    EXPECT_EQ(decoded.run(DLT_EN10MB, outer4(47, gre(0x2081, 0x880B, empty_key + Frame(4, 0)))),
              DecodeResult::kNotTracked);
}

TEST(DecodeTunnel, IpInIp) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer4(4, inner4()));
    expect_inner4(decoded);
    decoded.run(DLT_EN10MB, outer4(41, inner6()));
    expect_inner6(decoded);
    decoded.run(DLT_EN10MB, ethernet(0x86DD, ipv6(4, inner4())));
    expect_inner4(decoded);
}

// IP protocol 143 carries an Ethernet frame, as segment routing's layer 2 services send it.
TEST(DecodeTunnel, EthernetInIpv6) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, ethernet(0x86DD, ipv6(143, ethernet(0x0800, inner4()))));
    expect_inner4(decoded);
}

TEST(DecodeTunnel, NestingIsBounded) {
    Frame packet = inner4();
    for (int i = 0; i < 16; ++i) packet = ipv4(4, packet, kTunnelA, kTunnelB);
    Decoded decoded;
    decoded.run(DLT_RAW, packet);  // the outer header and 16 tunnels
    expect_inner4(decoded);
    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(4, packet, kTunnelA, kTunnelB)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTunnelTooDeep), 1u);
}

Frame gtp(uint8_t flags, uint8_t type, const Frame& rest) {
    Frame frame = {flags, type};
    put16(frame, static_cast<uint16_t>(rest.size()));
    put32(frame, 0x11223344);  // TEID
    return frame + rest;
}

TEST(DecodeTunnel, GtpU) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer_udp(2152, 2152, gtp(0x30, 0xFF, inner4())));
    expect_inner4(decoded);
    // Sequence number and an extension header (PDU session container, 4 bytes).
    decoded.run(
        DLT_EN10MB,
        outer_udp(2152, 2152, gtp(0x36, 0xFF, bytes({0, 1, 0, 0x85, 1, 0x10, 9, 0}) + inner6())));
    expect_inner6(decoded);
}

TEST(DecodeTunnel, GtpUChecksTheHeaderNotJustThePort) {
    Decoded decoded;
    // An echo request is GTP but carries no user packet: it stays a UDP packet.
    decoded.run(DLT_EN10MB, outer_udp(2152, 2152, gtp(0x32, 0x01, Frame(4, 0))));
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kTunnelA));
    EXPECT_EQ(decoded.packet.target_port, 2152);
    // Version 2 (GTPv2-C) and a length that does not fit are not GTP-U either.
    decoded.run(DLT_EN10MB, outer_udp(2152, 2152, gtp(0x48, 0xFF, inner4())));
    EXPECT_EQ(decoded.packet.source, address(kTunnelA));
    Frame lying = gtp(0x30, 0xFF, inner4());
    lying[2] = 0x40;
    decoded.run(DLT_EN10MB, outer_udp(2152, 2152, lying));
    EXPECT_EQ(decoded.packet.source, address(kTunnelA));
    EXPECT_EQ(decoded.decoder.anomalies().total(), 0u);
}

Frame vxlan(uint8_t flags = 0x08) { return bytes({flags, 0, 0, 0, 0, 0, 42, 0}); }

TEST(DecodeTunnel, Vxlan) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer_udp(61000, 4789, vxlan() + ethernet(0x0800, inner4())));
    expect_inner4(decoded);
    EXPECT_EQ(decoded.packet.wire_length, 14 + inner4().size());
    // Without the I flag it is not VXLAN: it stays UDP.
    decoded.run(DLT_EN10MB, outer_udp(61000, 4789, vxlan(0x00) + ethernet(0x0800, inner4())));
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kTunnelA));
    EXPECT_EQ(decoded.packet.target_port, 4789);
    // Inner ARP is no IP packet: the datagram stays a UDP flow, so a tunnel port hides
    // nothing.
    EXPECT_EQ(
        decoded.run(DLT_EN10MB, outer_udp(61000, 4789, vxlan() + ethernet(0x0806, Frame(28, 0)))),
        DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kTunnelA));
    EXPECT_EQ(decoded.packet.target_port, 4789);
    // Neither does garbage behind a valid-looking VXLAN header.
    EXPECT_EQ(decoded.run(DLT_EN10MB, outer_udp(61000, 4789, vxlan() + Frame(40, 0xEE))),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, 17);
}

TEST(DecodeTunnel, VxlanOnLinuxDefaultPort) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer_udp(61000, 8472, vxlan() + ethernet(0x0800, inner4())));
    expect_inner4(decoded);
    // Another flag or a reserved bit set: not what Linux sends, so it stays UDP.
    for (Frame header :
         {vxlan(0x0C), bytes({0x08, 0, 0, 1, 0, 0, 42, 0}), bytes({0x08, 0, 0, 0, 0, 0, 42, 1})}) {
        decoded.run(DLT_EN10MB, outer_udp(61000, 8472, header + ethernet(0x0800, inner4())));
        ASSERT_EQ(decoded.result, DecodeResult::kPacket);
        EXPECT_EQ(decoded.packet.source, address(kTunnelA));
        EXPECT_EQ(decoded.packet.target_port, 8472);
    }
}

TEST(DecodeTunnel, Geneve) {
    Decoded decoded;
    // one 8-byte option, protocol: transparent Ethernet bridging
    decoded.run(DLT_EN10MB, outer_udp(50000, 6081,
                                      bytes({0x02, 0, 0x65, 0x58, 0, 0, 1, 0}) + Frame(8, 0) +
                                          ethernet(0x0800, inner4())));
    expect_inner4(decoded);
}

// An L2TP version 2 data message with the given flags: length, ids 7 and 9, Ns and Nr,
// an offset of 2 bytes of padding, as the flags ask.
Frame l2tp(uint16_t flags, const Frame& ppp) {
    Frame frame = {static_cast<uint8_t>(flags >> 8), static_cast<uint8_t>(flags | 2)};
    if (flags & 0x4000) frame = frame + bytes({0, 0});
    frame = frame + bytes({0, 7, 0, 9});
    if (flags & 0x0800) frame = frame + bytes({0, 1, 0, 2});
    if (flags & 0x0200) frame = frame + bytes({0, 2, 0xAA, 0xAA});
    frame = frame + ppp;
    if (flags & 0x4000) {
        frame[2] = static_cast<uint8_t>(frame.size() >> 8);
        frame[3] = static_cast<uint8_t>(frame.size());
    }
    return frame;
}

TEST(DecodeTunnel, L2tpDataCarriesPpp) {
    Decoded decoded;
    const Frame framed_ipv4 = bytes({0xFF, 0x03, 0x00, 0x21}) + inner4();
    decoded.run(DLT_EN10MB, outer_udp(1701, 1701, l2tp(0, framed_ipv4)));
    expect_inner4(decoded);
    decoded.run(DLT_EN10MB, outer_udp(40000, 1701, l2tp(0x4A00, framed_ipv4)));
    expect_inner4(decoded);
    // Address and control compressed away, IPv6 inside.
    decoded.run(DLT_EN10MB, outer_udp(1701, 40000, l2tp(0, bytes({0x00, 0x57}) + inner6())));
    expect_inner6(decoded);
}

TEST(DecodeTunnel, L2tpControlAndLcpStayUdp) {
    Decoded decoded;
    const Frame framed_ipv4 = bytes({0xFF, 0x03, 0x00, 0x21}) + inner4();
    // A control message (T, L and S set), version 3, reserved bits set, and LCP.
    for (const Frame& payload :
         {l2tp(0xC800, Frame(12, 0)), Frame{0x00, 0x03, 0, 7, 0, 9, 0, 0},
          l2tp(0x1000, framed_ipv4), l2tp(0, bytes({0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4}))}) {
        ASSERT_EQ(decoded.run(DLT_EN10MB, outer_udp(1701, 1701, payload)), DecodeResult::kPacket);
        EXPECT_EQ(decoded.packet.ip_protocol, 17);
        EXPECT_EQ(decoded.packet.target_port, 1701);
    }
}

Frame capwap(bool native, bool wireless_info) {
    // HLEN 2 words (4 with the wireless information), RID 0, WBID 1, T
    const uint8_t hlen = wireless_info ? 4 : 2;
    Frame frame = {0x00,
                   static_cast<uint8_t>(hlen << 3),
                   static_cast<uint8_t>(0x02 | (native ? 1 : 0)),
                   static_cast<uint8_t>(wireless_info ? 0x20 : 0),
                   0,
                   0,
                   0,
                   0};
    if (wireless_info) frame = frame + bytes({4, 0xBF, 0x23, 0, 0, 0, 0, 0});
    return frame;
}

Frame wifi_to_ds(bool swapped) {
    Frame frame = {0x08, 0x01};
    if (swapped) std::swap(frame[0], frame[1]);
    frame.resize(24, 0x33);
    return frame + llc_snap(0x0800);
}

TEST(DecodeTunnel, CapwapData) {
    Decoded decoded;
    decoded.run(DLT_EN10MB,
                outer_udp(41000, 5247, capwap(false, false) + ethernet(0x0800, inner4())));
    expect_inner4(decoded);
    decoded.run(DLT_EN10MB,
                outer_udp(41000, 5247, capwap(true, true) + wifi_to_ds(false) + inner4()));
    expect_inner4(decoded);
    // Cisco's access points send the frame control bytes swapped.
    decoded.run(DLT_EN10MB,
                outer_udp(5247, 41000, capwap(true, true) + wifi_to_ds(true) + inner4()));
    expect_inner4(decoded);
    // DTLS-encrypted CAPWAP stays UDP.
    decoded.run(DLT_EN10MB, outer_udp(41000, 5247, bytes({0x01, 0, 0, 0}) + Frame(40, 0)));
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.target_port, 5247);
}

TEST(DecodeTunnel, TeredoIsNotUnwrapped) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer_udp(51000, 3544, inner6()));
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kTunnelA));
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kUdp);
    EXPECT_EQ(decoded.packet.target_port, 3544);
    EXPECT_EQ(decoded.packet.payload_length, inner6().size());
}

TEST(DecodeTunnel, PimRegister) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer4(103, bytes({0x21, 0, 0, 0, 0, 0, 0, 0}) + inner4()));
    expect_inner4(decoded);
    // A Null-Register and a hello carry no packet: they are a PIM flow of the outer pair.
    ASSERT_EQ(
        decoded.run(DLT_EN10MB, outer4(103, bytes({0x21, 0, 0, 0, 0x40, 0, 0, 0}) + inner4())),
        DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, 103);
    ASSERT_EQ(decoded.run(DLT_EN10MB, outer4(103, bytes({0x20, 0, 0, 0}) + Frame(8, 0))),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, 103);
    EXPECT_EQ(decoded.packet.source_port, 0);
}

TEST(DecodeTunnel, Ayiya) {
    // identity 2^4 = 16 bytes, signature 5 words = 20 bytes, forward, next header IPv6
    Frame header = bytes({0x41, 0x52, 0x11, 41, 0, 0, 0, 1}) + Frame(16, 0) + Frame(20, 0);
    Decoded decoded;
    decoded.run(DLT_EN10MB, outer_udp(5072, 5072, header + inner6()));
    expect_inner6(decoded);
}

}  // namespace
}  // namespace pw::decode::test
