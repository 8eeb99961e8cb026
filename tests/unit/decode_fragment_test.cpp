#include <gtest/gtest.h>

#include "decode_frames.h"

namespace pw::decode::test {
namespace {

// A UDP datagram of 8 + 40 bytes cut into IPv4 fragments of the given sizes (multiples of 8
// but the last).
Frame datagram_payload() { return udp(4000, 53, filler(40, 0x10)); }

Frame fragment4(const Frame& payload, uint16_t offset, size_t length, bool more, uint16_t id = 7) {
    Ipv4Options extra;
    extra.id = id;
    extra.offset_bytes = offset;
    extra.more_fragments = more;
    Frame part(payload.begin() + offset, payload.begin() + offset + length);
    return ipv4(ip_protocol::kUdp, part, kClient4, kServer4, extra);
}

void expect_datagram(const Decoded& decoded) {
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.ip_protocol, ip_protocol::kUdp);
    EXPECT_EQ(decoded.packet.source_port, 4000);
    EXPECT_EQ(decoded.packet.target_port, 53);
    EXPECT_EQ(decoded.payload(), filler(40, 0x10));
    EXPECT_EQ(decoded.packet.payload_length, 40u);
}

TEST(DecodeFragments, InOrder) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 0, 16, true)), DecodeResult::kHeld);
    EXPECT_GT(decoded.decoder.memory_bytes(), 0u);
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 16, 16, true)), DecodeResult::kHeld);
    decoded.run(DLT_RAW, fragment4(payload, 32, 16, false));
    expect_datagram(decoded);
    EXPECT_EQ(decoded.packet.wire_length, 20u + 48u);
    EXPECT_EQ(decoded.decoder.memory_bytes(), 0u);
    EXPECT_EQ(decoded.decoder.anomalies().total(), 0u);
}

TEST(DecodeFragments, OutOfOrder) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 32, 16, false)), DecodeResult::kHeld);
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 0, 16, true)), DecodeResult::kHeld);
    decoded.run(DLT_RAW, fragment4(payload, 16, 16, true));
    expect_datagram(decoded);
}

TEST(DecodeFragments, PayloadStaysValidUntilTheNextCall) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true));
    decoded.run(DLT_RAW, fragment4(payload, 24, 24, false));
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    const std::vector<uint8_t> copy = decoded.payload();
    // The buffer belongs to the decoder, not to the frame passed in.
    EXPECT_EQ(copy, filler(40, 0x10));
}

TEST(DecodeFragments, OverlapKeepsTheFirstData) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 0, 24, true)), DecodeResult::kHeld);
    // A fragment rewriting bytes 16..31 with other data: the first data wins.
    Frame forged = payload;
    for (size_t i = 16; i < 32; ++i) forged[i] = 0xEE;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(forged, 16, 16, true)), DecodeResult::kHeld);
    EXPECT_EQ(decoded.count(Anomaly::kFragmentOverlap), 1u);
    decoded.run(DLT_RAW, fragment4(payload, 32, 16, false));
    ASSERT_EQ(decoded.result, DecodeResult::kPacket);
    Frame expected = filler(40, 0x10);
    for (size_t i = 24; i < 32; ++i) expected[i - 8] = 0xEE;  // only the hole it filled
    EXPECT_EQ(decoded.payload(), expected);
}

TEST(DecodeFragments, DuplicateFragment) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true));
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true));
    EXPECT_EQ(decoded.count(Anomaly::kFragmentOverlap), 1u);
    decoded.run(DLT_RAW, fragment4(payload, 24, 24, false));
    expect_datagram(decoded);
}

TEST(DecodeFragments, DatagramsAreKeptApartById) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 0, 24, true, 1)), DecodeResult::kHeld);
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 24, 24, false, 2)), DecodeResult::kHeld);
    decoded.run(DLT_RAW, fragment4(payload, 24, 24, false, 1));
    expect_datagram(decoded);
}

TEST(DecodeFragments, Timeout) {
    const Frame payload = datagram_payload();
    FragmentLimits limits;
    limits.timeout_us = 1'000'000;
    Decoded decoded(limits);
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true), 10'000'000);
    // Frames alone expire nothing: the pipeline chooses the moments.
    decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, udp(1, 2)), 11'500'000);
    EXPECT_EQ(decoded.count(Anomaly::kFragmentTimeout), 0u);
    EXPECT_GT(decoded.decoder.memory_bytes(), 0u);
    // A look after the timeout expires the datagram.
    decoded.decoder.expire_fragments(11'500'000);
    EXPECT_EQ(decoded.count(Anomaly::kFragmentTimeout), 1u);
    EXPECT_EQ(decoded.decoder.memory_bytes(), 0u);
    // So the last fragment finds nothing to complete.
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 24, 24, false), 11'600'000),
              DecodeResult::kHeld);
}

// Datagrams still incomplete when the input ends are counted, not dropped unseen.
TEST(DecodeFragments, IncompleteAtEndCounted) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true, 1), 10'000'000);
    decoded.run(DLT_RAW, fragment4(payload, 24, 24, false, 2), 10'000'100);
    decoded.decoder.end_fragments();
    EXPECT_EQ(decoded.count(Anomaly::kFragmentIncomplete), 2u);
    EXPECT_EQ(decoded.count(Anomaly::kFragmentTimeout), 0u);
    EXPECT_EQ(decoded.decoder.memory_bytes(), 0u);
}

TEST(DecodeFragments, WithinTimeout) {
    const Frame payload = datagram_payload();
    FragmentLimits limits;
    limits.timeout_us = 1'000'000;
    Decoded decoded(limits);
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true), 10'000'000);
    decoded.run(DLT_RAW, fragment4(payload, 24, 24, false), 10'900'000);
    expect_datagram(decoded);
}

TEST(DecodeFragments, TableFullEvictsTheOldest) {
    const Frame payload = datagram_payload();
    FragmentLimits limits;
    limits.max_datagrams = 2;
    Decoded decoded(limits);
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true, 1));
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true, 2));
    decoded.run(DLT_RAW, fragment4(payload, 0, 24, true, 3));  // evicts datagram 1
    EXPECT_EQ(decoded.count(Anomaly::kFragmentTableFull), 1u);
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 24, 24, false, 1)), DecodeResult::kHeld);
    decoded.run(DLT_RAW, fragment4(payload, 24, 24, false, 3));
    expect_datagram(decoded);
}

TEST(DecodeFragments, NoTableAtAll) {
    FragmentLimits limits;
    limits.max_datagrams = 0;
    Decoded decoded(limits);
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(datagram_payload(), 0, 24, true)),
              DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kFragmentTableFull), 1u);
}

TEST(DecodeFragments, ByteLimit) {
    FragmentLimits limits;
    limits.max_bytes = 3000;
    Decoded decoded(limits);
    // The first datagram holds 2000 bytes; the second needs 2000 more, so the first goes.
    Ipv4Options first;
    first.id = 1;
    first.offset_bytes = 1000;
    first.more_fragments = true;
    EXPECT_EQ(
        decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, Frame(1000, 1), kClient4, kServer4, first)),
        DecodeResult::kHeld);
    EXPECT_LE(decoded.decoder.memory_bytes(), 3000u);
    Ipv4Options second = first;
    second.id = 2;
    EXPECT_EQ(
        decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, Frame(1000, 1), kClient4, kServer4, second)),
        DecodeResult::kHeld);
    EXPECT_EQ(decoded.count(Anomaly::kFragmentTableFull), 1u);
    // One datagram alone larger than the limit is dropped.
    Ipv4Options huge;
    huge.id = 3;
    huge.offset_bytes = 4000;
    EXPECT_EQ(decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, Frame(8, 1), kClient4, kServer4, huge)),
              DecodeResult::kMalformed);
    EXPECT_LE(decoded.decoder.memory_bytes(), 3000u);
}

TEST(DecodeFragments, DatagramSizeLimit) {
    Decoded decoded;
    Ipv4Options extra;
    extra.offset_bytes = 65528;  // the largest offset; with 100 bytes, past 65535
    EXPECT_EQ(
        decoded.run(DLT_RAW, ipv4(ip_protocol::kUdp, Frame(100, 0), kClient4, kServer4, extra)),
        DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kFragmentTooLarge), 1u);
    EXPECT_EQ(decoded.decoder.memory_bytes(), 0u);
}

TEST(DecodeFragments, BadFragments) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    // Not the last, yet not a multiple of 8 bytes.
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 0, 20, true)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadFragment), 1u);
    // Two different ends.
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 32, 16, false)), DecodeResult::kHeld);
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 24, 16, false)), DecodeResult::kMalformed);
    EXPECT_EQ(decoded.count(Anomaly::kBadFragment), 2u);
    EXPECT_EQ(decoded.decoder.memory_bytes(), 0u);
}

TEST(DecodeFragments, FirstFragmentCutBySnapshotLengthIsDecodedAlone) {
    const Frame big = udp(4000, 53, filler(1400));
    Frame first = fragment4(big, 0, 1000, true);
    Frame captured(first.begin(), first.begin() + 100);
    Decoded decoded;
    ASSERT_EQ(decoded.run(DLT_RAW, captured, 1, static_cast<int64_t>(first.size())),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.target_port, 53);
    EXPECT_EQ(decoded.packet.payload_length, 1400u);  // the UDP length: the whole datagram
    EXPECT_EQ(decoded.packet.payload.size(), 100u - 28);
}

TEST(DecodeFragments, LaterFragmentCutBySnapshotLength) {
    const Frame big = udp(4000, 53, filler(1400));
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(big, 0, 1000, true)), DecodeResult::kHeld);
    Frame last = fragment4(big, 1000, 408, false);
    Frame captured(last.begin(), last.begin() + 120);
    ASSERT_EQ(decoded.run(DLT_RAW, captured, 1, static_cast<int64_t>(last.size())),
              DecodeResult::kPacket);
    EXPECT_EQ(decoded.packet.payload_length, 1400u);
    EXPECT_EQ(decoded.packet.payload.size(), 1000u + 100 - 8);  // up to where the cut is
    EXPECT_EQ(decoded.count(Anomaly::kPacketTruncatedBySnaplen), 1u);
}

Frame fragment6(const Frame& payload, uint16_t offset, size_t length, bool more, uint32_t id = 99) {
    Frame part(payload.begin() + offset, payload.begin() + offset + length);
    return ipv6(44, ipv6_fragment(ip_protocol::kUdp, offset, more, id) + part);
}

TEST(DecodeFragments, Ipv6) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment6(payload, 24, 24, false)), DecodeResult::kHeld);
    decoded.run(DLT_RAW, fragment6(payload, 0, 24, true));
    expect_datagram(decoded);
    EXPECT_EQ(decoded.packet.source, address(kClient6));
    EXPECT_EQ(decoded.packet.wire_length, 40u + 8 + 48);
}

TEST(DecodeFragments, Ipv6AfterOtherExtensionHeaders) {
    const Frame payload = datagram_payload();
    Frame part1(payload.begin(), payload.begin() + 24);
    Frame part2(payload.begin() + 24, payload.end());
    Decoded decoded;
    EXPECT_EQ(
        decoded.run(DLT_RAW, ipv6(0, ipv6_extension(44) +
                                         ipv6_fragment(ip_protocol::kUdp, 0, true, 5) + part1)),
        DecodeResult::kHeld);
    decoded.run(DLT_RAW, ipv6(0, ipv6_extension(44) +
                                     ipv6_fragment(ip_protocol::kUdp, 24, false, 5) + part2));
    expect_datagram(decoded);
}

TEST(DecodeFragments, Ipv6AtomicFragment) {
    Decoded decoded;
    decoded.run(DLT_RAW,
                ipv6(44, ipv6_fragment(ip_protocol::kUdp, 0, false, 1) + datagram_payload()));
    expect_datagram(decoded);
    EXPECT_EQ(decoded.decoder.memory_bytes(), 0u);
}

TEST(DecodeFragments, Ipv4AndIpv6DoNotMix) {
    const Frame payload = datagram_payload();
    Decoded decoded;
    EXPECT_EQ(decoded.run(DLT_RAW, fragment4(payload, 0, 24, true, 99)), DecodeResult::kHeld);
    EXPECT_EQ(decoded.run(DLT_RAW, fragment6(payload, 24, 24, false, 99)), DecodeResult::kHeld);
}

}  // namespace
}  // namespace pw::decode::test
