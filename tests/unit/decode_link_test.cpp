#include <gtest/gtest.h>

#include "decode_frames.h"

namespace pw::decode::test {
namespace {

// What every frame of these tests carries: a TCP segment with 5 bytes of payload.
Frame tcp4() { return ipv4(ip_protocol::kTcp, tcp(40000, 443, bytes({'h', 'e', 'l', 'l', 'o'}))); }
Frame tcp6() { return ipv6(ip_protocol::kTcp, tcp(40000, 443, bytes({'h', 'e', 'l', 'l', 'o'}))); }

void expect_tcp4(const Decoded& decoded) {
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kClient4));
    EXPECT_EQ(decoded.packet.target, address(kServer4));
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kTcp);
    EXPECT_EQ(decoded.packet.source_port, 40000);
    EXPECT_EQ(decoded.packet.target_port, 443);
    EXPECT_EQ(decoded.payload(), bytes({'h', 'e', 'l', 'l', 'o'}));
    EXPECT_EQ(decoded.packet.payload_length, 5u);
}

void expect_tcp6(const Decoded& decoded) {
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.source, address(kClient6));
    EXPECT_EQ(decoded.packet.target, address(kServer6));
    EXPECT_EQ(decoded.packet.payload_length, 5u);
}

TEST(DecodeLink, SupportedLinkTypes) {
    for (int linktype : {DLT_NULL,
                         DLT_EN10MB,
                         DLT_RAW,
                         12,
                         14,
                         101,
                         DLT_LOOP,
                         DLT_IPV4,
                         DLT_IPV6,
                         DLT_LINUX_SLL,
                         DLT_LINUX_SLL2,
                         DLT_PPP,
                         DLT_PPP_SERIAL,
                         DLT_C_HDLC,
                         DLT_PPP_ETHER,
                         DLT_IEEE802_11,
                         DLT_IEEE802_11_RADIO,
                         DLT_PPI,
                         DLT_NFLOG,
                         DLT_PKTAP,
                         DLT_FDDI,
                         DLT_IEEE802,
                         DLT_IPOIB,
                         DLT_IPNET}) {
        EXPECT_TRUE(Decoder::supports_link_type(linktype)) << linktype;
    }
    for (int linktype : {-1, 3, 4, 147, 1000}) {
        EXPECT_FALSE(Decoder::supports_link_type(linktype)) << linktype;
    }
    Decoded decoded;
    EXPECT_EQ(decoded.run(147, tcp4()), DecodeResult::kNotTracked);
}

TEST(DecodeLink, Ethernet) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, ethernet(0x0800, tcp4()));
    expect_tcp4(decoded);
    EXPECT_EQ(decoded.packet.vlan, 0u);
    EXPECT_EQ(decoded.packet.wire_length, 14 + tcp4().size());
    EXPECT_EQ(decoded.packet.time_us, 1'000'000);

    decoded.run(DLT_EN10MB, ethernet(0x86DD, tcp6()));
    expect_tcp6(decoded);
}

TEST(DecodeLink, EthernetPaddingIsNotPayload) {
    // A TCP ACK without payload is 54 bytes; Ethernet pads it to 60.
    Decoded decoded;
    Frame frame = ethernet(0x0800, ipv4(ip_protocol::kTcp, tcp(1, 2, {}, 0x10))) + Frame(6, 0xEE);
    ASSERT_EQ(decoded.run(DLT_EN10MB, frame), DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.payload_length, 0u);
    EXPECT_TRUE(decoded.packet.payload.empty());
}

TEST(DecodeLink, Ethernet8023) {
    Decoded decoded;
    // Spanning tree: 802.3 length, LLC 42 42 03.
    Frame stp = Frame{0x01, 0x80, 0xC2, 0, 0, 0, 0x02, 0, 0, 0, 0, 1, 0, 38, 0x42, 0x42, 0x03} +
                Frame(35, 0);
    EXPECT_EQ(decoded.run(DLT_EN10MB, stp), DecodeResult::kNotTracked);
    // IP in 802.3 with SNAP (RFC 1042).
    Frame snap = ethernet(static_cast<uint16_t>(8 + tcp4().size()), llc_snap(0x0800) + tcp4());
    decoded.run(DLT_EN10MB, snap);
    expect_tcp4(decoded);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedLink), 0u);
}

TEST(DecodeLink, VlanTags) {
    Decoded decoded;
    decoded.run(DLT_EN10MB, ethernet(0x8100, vlan_tag(0x2064, 0x0800) + tcp4()));
    expect_tcp4(decoded);
    EXPECT_EQ(decoded.packet.vlan, 100u);  // priority bits are not part of the id

    // QinQ: 802.1ad outer tag 10, 802.1Q inner tag 20.
    decoded.run(DLT_EN10MB, ethernet(0x88A8, vlan_tag(10, 0x8100) + vlan_tag(20, 0x86DD) + tcp6()));
    expect_tcp6(decoded);
    EXPECT_EQ(decoded.packet.vlan, (10u << 12) | 20u);

    // The pre-standard 0x9100 outer tag.
    decoded.run(DLT_EN10MB,
                ethernet(0x9100, vlan_tag(7, 0x8100) + vlan_tag(4095, 0x0800) + tcp4()));
    expect_tcp4(decoded);
    EXPECT_EQ(decoded.packet.vlan, (7u << 12) | 4095u);

    // Three tags keep the innermost two.
    decoded.run(DLT_EN10MB, ethernet(0x88A8, vlan_tag(1, 0x8100) + vlan_tag(2, 0x8100) +
                                                 vlan_tag(3, 0x0800) + tcp4()));
    expect_tcp4(decoded);
    EXPECT_EQ(decoded.packet.vlan, (2u << 12) | 3u);
}

TEST(DecodeLink, TooManyVlanTags) {
    Frame tags;
    for (int i = 0; i < 40; ++i) tags = tags + vlan_tag(1, 0x8100);
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_EN10MB, ethernet(0x8100, tags + tcp4())), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTooManyLinkHeaders), 1u);
}

TEST(DecodeLink, TruncatedVlanTag) {
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_EN10MB, ethernet(0x8100, bytes({0, 1}))), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedVlan), 1u);
}

TEST(DecodeLink, NotIp) {
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_EN10MB, ethernet(0x0806, Frame(28, 0))),
              DecodeResult::kNotTracked);  // ARP
    EXPECT_EQ(decoded.decoder.anomalies().total(), 0u);
}

TEST(DecodeLink, Mpls) {
    Decoded decoded;
    // Two labels, the bottom one with the S bit, then IPv4 by its version nibble.
    Frame labels = bytes({0x00, 0x01, 0x20, 0x40, 0x00, 0x02, 0x31, 0x40});
    decoded.run(DLT_EN10MB, ethernet(0x8847, labels + tcp4()));
    expect_tcp4(decoded);
    // The IPv6 explicit null label.
    decoded.run(DLT_EN10MB, ethernet(0x8847, bytes({0x00, 0x00, 0x21, 0x40}) + tcp6()));
    expect_tcp6(decoded);
    // A pseudowire control word, then Ethernet.
    decoded.run(DLT_EN10MB, ethernet(0x8847, bytes({0x00, 0x10, 0x01, 0x40, 0, 0, 0, 0}) +
                                                 ethernet(0x0800, tcp4())));
    expect_tcp4(decoded);
    EXPECT_EQ(decoded.run(DLT_EN10MB, ethernet(0x8847, bytes({0x00, 0x10}))),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedMpls), 1u);
}

TEST(DecodeLink, PppoeOverEthernet) {
    Decoded decoded;
    Frame ppp = bytes({0x00, 0x21}) + tcp4();
    Frame pppoe = bytes({0x11, 0x00, 0x12, 0x34});
    put16(pppoe, static_cast<uint16_t>(ppp.size()));
    decoded.run(DLT_EN10MB, ethernet(0x8864, pppoe + ppp));
    expect_tcp4(decoded);
    decoded.run(DLT_PPP_ETHER, pppoe + ppp);
    expect_tcp4(decoded);
}

TEST(DecodeLink, LinuxCooked) {
    Frame sll = bytes({0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00});
    Decoded decoded;
    decoded.run(DLT_LINUX_SLL, sll + tcp4());
    expect_tcp4(decoded);

    Frame sll2 = bytes({0x86, 0xDD, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0});
    decoded.run(DLT_LINUX_SLL2, sll2 + tcp6());
    expect_tcp6(decoded);

    EXPECT_EQ(decoded.run(DLT_LINUX_SLL2, Frame(sll2.begin(), sll2.begin() + 19)),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kTruncatedLink), 1u);
}

TEST(DecodeLink, BsdLoopbackInEitherByteOrder) {
    Decoded decoded;
    for (int linktype : {DLT_NULL, DLT_LOOP}) {
        decoded.run(linktype, bytes({2, 0, 0, 0}) + tcp4());
        expect_tcp4(decoded);
        decoded.run(linktype, bytes({0, 0, 0, 2}) + tcp4());
        expect_tcp4(decoded);
        for (uint8_t inet6 : {24, 28, 30}) {
            decoded.run(linktype, bytes({inet6, 0, 0, 0}) + tcp6());
            expect_tcp6(decoded);
            decoded.run(linktype, bytes({0, 0, 0, inet6}) + tcp6());
            expect_tcp6(decoded);
        }
        EXPECT_EQ(decoded.run(linktype, bytes({7, 0, 0, 0}) + tcp4()), DecodeResult::kNotTracked);
    }
}

TEST(DecodeLink, RawIpUnderEachValue) {
    Decoded decoded;
    for (int linktype : {DLT_RAW, 12, 14, 101, DLT_IPV4, DLT_IPV6}) {
        decoded.run(linktype, tcp4());
        expect_tcp4(decoded);
        decoded.run(linktype, tcp6());
        expect_tcp6(decoded);
    }
    EXPECT_EQ(decoded.run(DLT_RAW, bytes({0x50, 0, 0, 0})), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadIpVersion), 1u);
}

TEST(DecodeLink, Ppp) {
    Decoded decoded;
    decoded.run(DLT_PPP, bytes({0xFF, 0x03, 0x00, 0x21}) + tcp4());
    expect_tcp4(decoded);
    decoded.run(DLT_PPP, bytes({0x00, 0x57}) + tcp6());  // address and control compressed
    expect_tcp6(decoded);
    decoded.run(DLT_PPP, bytes({0x21}) + tcp4());  // protocol compressed to one byte
    expect_tcp4(decoded);
    decoded.run(DLT_PPP_SERIAL, bytes({0xFF, 0x03, 0x00, 0x21}) + tcp4());
    expect_tcp4(decoded);
    EXPECT_EQ(decoded.run(DLT_PPP, bytes({0xFF, 0x03, 0xC0, 0x21, 1, 1, 0, 4})),
              DecodeResult::kNotTracked);  // LCP
}

TEST(DecodeLink, CiscoHdlc) {
    Decoded decoded;
    decoded.run(DLT_C_HDLC, bytes({0x0F, 0x00, 0x08, 0x00}) + tcp4());
    expect_tcp4(decoded);
    decoded.run(DLT_PPP_SERIAL, bytes({0x8F, 0x00, 0x86, 0xDD}) + tcp6());
    expect_tcp6(decoded);
}

Frame wifi_data(uint8_t control, uint8_t flags, bool qos) {
    Frame frame = {control, flags, 0, 0};
    frame.resize(24, 0x11);
    if ((flags & 3) == 3) frame.resize(30, 0x22);
    if (qos) frame = frame + bytes({0, 0});
    return frame;
}

TEST(DecodeLink, Ieee80211Data) {
    Decoded decoded;
    decoded.run(DLT_IEEE802_11, wifi_data(0x08, 0x01, false) + llc_snap(0x0800) + tcp4());
    expect_tcp4(decoded);
    decoded.run(DLT_IEEE802_11, wifi_data(0x88, 0x03, true) + llc_snap(0x86DD) + tcp6());
    expect_tcp6(decoded);
    // Protected, management and null-data frames carry nothing to decode.
    EXPECT_EQ(decoded.run(DLT_IEEE802_11, wifi_data(0x08, 0x41, false) + Frame(40, 0)),
              DecodeResult::kNotTracked);
    EXPECT_EQ(decoded.run(DLT_IEEE802_11, wifi_data(0x80, 0x00, false) + Frame(40, 0)),
              DecodeResult::kNotTracked);
    EXPECT_EQ(decoded.run(DLT_IEEE802_11, wifi_data(0x48, 0x01, false)), DecodeResult::kNotTracked);
}

// An A-MSDU subframe: destination and source addresses, the MSDU's length, the MSDU.
Frame amsdu_subframe(const Frame& msdu) {
    Frame frame(12, 0x33);
    frame.push_back(static_cast<uint8_t>(msdu.size() >> 8));
    frame.push_back(static_cast<uint8_t>(msdu.size()));
    return frame + msdu;
}

TEST(DecodeLink, Ieee80211AggregateFirstSubframe) {
    Frame qos_amsdu = wifi_data(0x88, 0x02, false) + bytes({0x80, 0});  // A-MSDU present
    Frame first = llc_snap(0x0800) + tcp4();
    Frame padding(static_cast<size_t>((4 - (14 + first.size()) % 4) % 4), 0);
    Frame second = llc_snap(0x86DD) + tcp6();
    Decoded decoded;
    decoded.run(DLT_IEEE802_11,
                qos_amsdu + amsdu_subframe(first) + padding + amsdu_subframe(second));
    expect_tcp4(decoded);

    // A subframe longer than the frame, or a header cut short, is malformed.
    Frame long_msdu = amsdu_subframe(first);
    long_msdu[12] = 0x40;
    EXPECT_EQ(decoded.run(DLT_IEEE802_11, qos_amsdu + long_msdu), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.run(DLT_IEEE802_11, qos_amsdu + Frame(10, 0)), DecodeResult::kMalformed);
}

TEST(DecodeLink, RadiotapAndPpi) {
    Decoded decoded;
    // radiotap: version, pad, length 12, present = Flags; flags 0x20 (data pad)... here 0.
    Frame radiotap = bytes({0, 0, 12, 0, 0x02, 0, 0, 0, 0x00, 0, 0, 0});
    decoded.run(DLT_IEEE802_11_RADIO,
                radiotap + wifi_data(0x08, 0x01, false) + llc_snap(0x0800) + tcp4());
    expect_tcp4(decoded);
    // With the data-pad flag a QoS header (26 bytes) is padded to 28.
    Frame padded = bytes({0, 0, 12, 0, 0x02, 0, 0, 0, 0x20, 0, 0, 0});
    decoded.run(DLT_IEEE802_11_RADIO,
                padded + wifi_data(0x88, 0x01, true) + bytes({0, 0}) + llc_snap(0x0800) + tcp4());
    expect_tcp4(decoded);

    Frame ppi = bytes({0, 0, 8, 0});
    put_le32(ppi, DLT_EN10MB);
    decoded.run(DLT_PPI, ppi + ethernet(0x0800, tcp4()));
    expect_tcp4(decoded);
}

TEST(DecodeLink, Nflog) {
    // header (AF_INET, version 0, resource 0), a prefix TLV, then the payload TLV
    Frame frame = bytes({2, 0, 0, 0});
    put_le16(frame, 8);
    put_le16(frame, 10);  // NFULA_PREFIX
    frame = frame + bytes({'a', 'b', 'c', 0});
    put_le16(frame, static_cast<uint16_t>(4 + tcp4().size()));
    put_le16(frame, 9);  // NFULA_PAYLOAD
    frame = frame + tcp4();
    Decoded decoded;
    decoded.run(DLT_NFLOG, frame);
    expect_tcp4(decoded);
}

TEST(DecodeLink, Pktap) {
    Frame frame;
    put_le32(frame, 108);  // header length
    put_le32(frame, 1);    // a packet record
    put_le32(frame, DLT_EN10MB);
    frame.resize(108, 0);
    Decoded decoded;
    decoded.run(DLT_PKTAP, frame + ethernet(0x0800, tcp4()));
    expect_tcp4(decoded);
}

TEST(DecodeLink, FddiIpnetArcnet) {
    Decoded decoded;
    decoded.run(DLT_FDDI, Frame(13, 0x50) + llc_snap(0x0800) + tcp4());
    expect_tcp4(decoded);

    Frame ipnet = bytes({2, 26, 0, 0});
    ipnet.resize(24, 0);
    decoded.run(DLT_IPNET, ipnet + tcp6());
    expect_tcp6(decoded);

    decoded.run(DLT_ARCNET_LINUX, bytes({1, 2, 0, 0, 0xD4, 0, 0, 0}) + tcp4());
    expect_tcp4(decoded);
}

TEST(DecodeLink, TokenRingAndIpoib) {
    // Access control, an LLC frame's frame control, destination and source.
    Frame token_ring = bytes({0x10, 0x40});
    token_ring.resize(14, 0x02);
    Decoded decoded;
    decoded.run(DLT_IEEE802, token_ring + llc_snap(0x0800) + tcp4());
    expect_tcp4(decoded);

    // A source-routed frame: the source's top bit, then 6 bytes of routing information.
    Frame routed = token_ring;
    routed[8] |= 0x80;
    decoded.run(DLT_IEEE802,
                routed + bytes({0x06, 0x30, 0x00, 0x11, 0x00, 0x20}) + llc_snap(0x0800) + tcp4());
    expect_tcp4(decoded);

    Frame mac_frame = token_ring;
    mac_frame[1] = 0x01;
    EXPECT_EQ(decoded.run(DLT_IEEE802, mac_frame + llc_snap(0x0800) + tcp4()),
              DecodeResult::kNotTracked);

    // 40 bytes of addresses, then the EtherType and 2 reserved bytes.
    Frame ipoib(40, 0xfe);
    decoded.run(DLT_IPOIB, ipoib + bytes({0x86, 0xDD, 0, 0}) + tcp6());
    expect_tcp6(decoded);
    EXPECT_EQ(decoded.run(DLT_IPOIB, Frame(43, 0)), DecodeResult::kMalformed);
}

}  // namespace
}  // namespace pw::decode::test
