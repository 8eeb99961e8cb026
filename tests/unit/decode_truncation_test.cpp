// Every prefix of every kind of frame, and deterministic random mutations of them: the
// decoder must never crash, must name an anomaly for each frame it rejects as malformed,
// and must never hand out more payload than the frame (or a reassembled datagram) has.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <utility>

#include "decode_frames.h"

namespace pw::decode::test {
namespace {

struct Sample {
    std::string name;
    int linktype;
    Frame frame;
};

std::vector<Sample> samples() {
    const Frame tcp4 = ipv4(ip_protocol::kTcp, tcp(1000, 80, filler(12), 0x18, 1, 2,
                                                   bytes({1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2})));
    const Frame udp6 = ipv6(
        0, ipv6_extension(60) + ipv6_extension(ip_protocol::kUdp) + udp(5353, 5353, filler(9)));
    const Frame icmp4 = ipv4(ip_protocol::kIcmp, icmp(8, 0, Frame(4, 0) + filler(16)));
    Ipv4Options options;
    options.options = bytes({0x94, 0x04, 0, 0});
    const Frame igmp4 =
        ipv4(ip_protocol::kIgmp, icmp(0x16, 0, Frame(4, 0)), kClient4, kServer4, options);
    Frame pppoe = bytes({0x11, 0, 0, 1});
    put16(pppoe, static_cast<uint16_t>(2 + tcp4.size()));
    pppoe = pppoe + bytes({0x00, 0x21}) + tcp4;
    Frame gre_key = bytes({0x20, 0x00, 0x08, 0x00, 0, 0, 0, 9});
    Frame gtp =
        bytes({0x32, 0xFF, 0, static_cast<uint8_t>(4 + tcp4.size()), 0, 0, 0, 1, 0, 1, 0, 0}) +
        tcp4;
    Frame vxlan = bytes({0x08, 0, 0, 0, 0, 0, 1, 0}) + ethernet(0x0800, tcp4);
    Frame capwap = bytes({0, 0x10, 0x03, 0, 0, 0, 0, 0});
    Frame wifi = {0x88, 0x01};
    wifi.resize(24, 0);
    wifi = wifi + bytes({0, 0});  // QoS control: 26 bytes, padded to 28 under radiotap
    Frame wifi_body = llc_snap(0x86DD) + udp6;
    Frame sll2 = bytes({0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0});
    Frame radiotap = bytes({0, 0, 12, 0, 0x02, 0, 0, 0, 0x20, 0, 0, 0});  // data pad
    Frame nflog = bytes({2, 0, 0, 0});
    put_le16(nflog, static_cast<uint16_t>(4 + tcp4.size()));
    put_le16(nflog, 9);
    nflog = nflog + tcp4;

    return {
        {"ethernet_tcp4", DLT_EN10MB, ethernet(0x0800, tcp4)},
        {"qinq_udp6", DLT_EN10MB,
         ethernet(0x88A8, vlan_tag(1, 0x8100) + vlan_tag(2, 0x86DD) + udp6)},
        {"mpls_icmp4", DLT_EN10MB, ethernet(0x8847, bytes({0, 1, 0x11, 64}) + icmp4)},
        {"pppoe_tcp4", DLT_EN10MB, ethernet(0x8864, pppoe)},
        {"snap_igmp4", DLT_EN10MB,
         ethernet(static_cast<uint16_t>(8 + igmp4.size()), llc_snap(0x0800) + igmp4)},
        {"sll_tcp4", DLT_LINUX_SLL, Frame(14, 0) + bytes({0x08, 0x00}) + tcp4},
        {"sll2_tcp4", DLT_LINUX_SLL2, sll2 + tcp4},
        {"null_udp6", DLT_NULL, bytes({30, 0, 0, 0}) + udp6},
        {"raw_tcp4", DLT_RAW, tcp4},
        {"ppp_udp6", DLT_PPP, bytes({0xFF, 0x03, 0x00, 0x57}) + udp6},
        {"chdlc_tcp4", DLT_C_HDLC, bytes({0x0F, 0, 0x08, 0}) + tcp4},
        {"radiotap_udp6", DLT_IEEE802_11_RADIO, radiotap + wifi + bytes({0, 0}) + wifi_body},
        {"nflog_tcp4", DLT_NFLOG, nflog},
        {"gre_tcp4", DLT_RAW, ipv4(47, gre_key + tcp4)},
        {"gre_teb", DLT_RAW, ipv4(47, bytes({0, 0, 0x65, 0x58}) + ethernet(0x0800, icmp4))},
        {"ipip6", DLT_RAW, ipv4(41, udp6)},
        {"gtp_tcp4", DLT_RAW, ipv4(ip_protocol::kUdp, udp(2152, 2152, gtp))},
        {"vxlan_tcp4", DLT_RAW, ipv4(ip_protocol::kUdp, udp(1, 4789, vxlan))},
        {"capwap_wifi", DLT_RAW, ipv4(ip_protocol::kUdp, udp(5247, 2, capwap + wifi + wifi_body))},
        {"fragment6", DLT_RAW,
         ipv6(44, ipv6_fragment(ip_protocol::kUdp, 8, true, 3) + Frame(16, 0))},
    };
}

// Decodes one frame and checks what must hold whatever the frame is.
void check(Decoder& decoder, int linktype, const Frame& frame, uint32_t wire_length,
           int64_t time_us, const std::string& what) {
    Packet packet;
    const uint64_t anomalies_before = decoder.anomalies().total();
    const DecodeResult result = decoder.decode(linktype, frame, wire_length, time_us, packet);
    if (result == DecodeResult::kMalformed) {
        EXPECT_GT(decoder.anomalies().total(), anomalies_before) << what;
    }
    if (result == DecodeResult::kPacket) {
        EXPECT_LE(packet.payload.size(), packet.payload_length) << what;
        // Touch every payload byte: under AddressSanitizer a payload that points past
        // its buffer fails here.
        unsigned sum = 0;
        for (uint8_t byte : packet.payload) sum += byte;
        EXPECT_GE(sum, 0u);
    }
}

TEST(DecodeTruncation, EverySampleDecodesWhole) {
    for (const Sample& sample : samples()) {
        Decoder decoder;
        Packet packet;
        const DecodeResult result = decoder.decode(
            sample.linktype, sample.frame, static_cast<uint32_t>(sample.frame.size()), 1, packet);
        const DecodeResult expected =
            sample.name == "fragment6" ? DecodeResult::kHeld : DecodeResult::kPacket;
        EXPECT_EQ(result, expected) << sample.name;
        EXPECT_EQ(decoder.anomalies().total(), 0u) << sample.name;
    }
}

TEST(DecodeTruncation, EveryPrefixCutBySnapshotLength) {
    // The frame was whole on the wire; the capture kept only a prefix of it.
    for (const Sample& sample : samples()) {
        Decoder decoder;
        for (size_t length = 0; length < sample.frame.size(); ++length) {
            Frame prefix(sample.frame.begin(), sample.frame.begin() + length);
            check(decoder, sample.linktype, prefix, static_cast<uint32_t>(sample.frame.size()), 1,
                  sample.name + " cut at " + std::to_string(length));
        }
    }
}

TEST(DecodeTruncation, EveryPrefixAsAShortFrame) {
    // The frame itself is short: its headers claim more than there is.
    for (const Sample& sample : samples()) {
        Decoder decoder;
        for (size_t length = 0; length < sample.frame.size(); ++length) {
            Frame prefix(sample.frame.begin(), sample.frame.begin() + length);
            check(decoder, sample.linktype, prefix, static_cast<uint32_t>(length), 1,
                  sample.name + " short at " + std::to_string(length));
        }
    }
}

TEST(DecodeTruncation, TruncatedEthernetTcpNamesEachLayer) {
    const Frame frame = ethernet(0x0800, ipv4(ip_protocol::kTcp, tcp(1, 2, filler(4))));
    auto anomaly_at = [&](size_t length) {
        Decoded decoded;
        Frame prefix(frame.begin(), frame.begin() + length);
        EXPECT_EQ(decoded.run(DLT_EN10MB, prefix, 1, static_cast<int64_t>(frame.size())),
                  DecodeResult::kMalformed)
            << length;
        for (size_t i = 0; i < static_cast<size_t>(Anomaly::kCount); ++i) {
            if (decoded.count(static_cast<Anomaly>(i)) > 0) return static_cast<Anomaly>(i);
        }
        return Anomaly::kCount;
    };
    EXPECT_EQ(anomaly_at(0), Anomaly::kTruncatedLink);
    EXPECT_EQ(anomaly_at(13), Anomaly::kTruncatedLink);
    EXPECT_EQ(anomaly_at(14), Anomaly::kTruncatedIpv4);
    EXPECT_EQ(anomaly_at(33), Anomaly::kTruncatedIpv4);
    EXPECT_EQ(anomaly_at(34), Anomaly::kTruncatedTcp);
    EXPECT_EQ(anomaly_at(37), Anomaly::kTruncatedTcp);
}

// Once the ports are captured, a TCP header that the snapshot length cut still makes a
// packet of its flow, with the payload's length on the wire.
TEST(DecodeTruncation, TcpHeaderCutAfterPortsIsCounted) {
    const Frame frame = ethernet(0x0800, ipv4(ip_protocol::kTcp, tcp(1, 2, filler(4))));
    for (size_t length : {38, 46, 53}) {
        Decoded decoded;
        Frame prefix(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(length));
        ASSERT_EQ(decoded.run(DLT_EN10MB, prefix, 1, static_cast<int64_t>(frame.size())),
                  DecodeResult::kPacket)
            << length;
        EXPECT_TRUE(decoded.packet.tcp_header_cut);
        EXPECT_EQ(decoded.packet.source_port, 1);
        EXPECT_EQ(decoded.packet.target_port, 2);
        // The flags (byte 13 of the header) count once captured.
        EXPECT_EQ(decoded.packet.tcp_flags, length >= 48 ? 0x18 : 0) << length;
        EXPECT_EQ(decoded.packet.payload_length, 4u);
        EXPECT_TRUE(decoded.packet.payload.empty());
    }
    // Whole on the wire but short: malformed, not cut.
    Decoded decoded;
    Frame prefix(frame.begin(), frame.begin() + 46);
    EXPECT_EQ(decoded.run(DLT_EN10MB, prefix), DecodeResult::kMalformed);
}

TEST(DecodeTruncation, RandomMutationsNeverCrash) {
    // A fixed seed keeps the test deterministic; libFuzzer will go further.
    std::mt19937 random(20240601);
    const std::vector<Sample> all = samples();
    Decoder decoder;  // one decoder throughout, so the reassembler sees it all
    int64_t time_us = 0;
    for (int round = 0; round < 20000; ++round) {
        const Sample& sample = all[random() % all.size()];
        Frame frame = sample.frame;
        const int flips = 1 + static_cast<int>(random() % 6);
        for (int i = 0; i < flips && !frame.empty(); ++i) {
            frame[random() % frame.size()] = static_cast<uint8_t>(random());
        }
        if (random() % 4 == 0) frame.resize(random() % (frame.size() + 1));
        if (random() % 8 == 0) frame.resize(frame.size() + random() % 64, 0xFF);
        uint32_t wire = static_cast<uint32_t>(frame.size());
        if (random() % 4 == 0) wire += static_cast<uint32_t>(random() % 2000);
        if (random() % 16 == 0) wire = static_cast<uint32_t>(random() % (frame.size() + 1));
        time_us += random() % 100'000;
        check(decoder, sample.linktype, frame, wire, time_us, sample.name + " mutated");
    }
    EXPECT_LE(decoder.memory_bytes(), FragmentLimits{}.max_bytes + 4096 * 1024);
}

TEST(DecodeTruncation, RandomFragmentsStayWithinLimits) {
    std::mt19937 random(7);
    FragmentLimits limits;
    limits.max_datagrams = 16;
    limits.max_bytes = 64 * 1024;
    Decoder decoder(limits);
    for (int round = 0; round < 20000; ++round) {
        Ipv4Options extra;
        extra.id = static_cast<uint16_t>(random() % 32);
        extra.offset_bytes = static_cast<uint16_t>((random() % 8192) * 8);
        extra.more_fragments = random() % 3 != 0;
        const size_t length = 8 * (1 + random() % 64) - (random() % 5 == 0 ? 3 : 0);
        Frame frame = ipv4(ip_protocol::kUdp, Frame(length, static_cast<uint8_t>(round)), kClient4,
                           kServer4, extra);
        Packet packet;
        decoder.decode(DLT_RAW, frame, static_cast<uint32_t>(frame.size()), round * 1000, packet);
        ASSERT_LE(decoder.memory_bytes(), limits.max_bytes + 16 * 1024) << round;
    }
}

}  // namespace
}  // namespace pw::decode::test
