// The pieces the multi-threaded pipeline relies on: the shard hash and the decoder's
// address pass. Whole captures are compared between one and several workers by
// tests/golden/check-threads. The live hooks the agent calls run through every worker.

#include "pipeline/sharded_pipeline.h"

#include <gtest/gtest.h>

#include "decode_frames.h"
#include "flow/flow_key.h"

namespace pw::decode::test {
namespace {

constexpr V4 kOuterA = {198, 51, 100, 1};
constexpr V4 kOuterB = {198, 51, 100, 2};

TEST(AddressPairHash, IsTheSameInBothDirections) {
    EXPECT_EQ(flow::address_pair_hash(address(kClient4), address(kServer4)),
              flow::address_pair_hash(address(kServer4), address(kClient4)));
    EXPECT_NE(flow::address_pair_hash(address(kClient4), address(kServer4)),
              flow::address_pair_hash(address(kClient4), address(kOuterA)));
}

TEST(DecoderAddresses, GivesTheInnermostAddressesOfATunnel) {
    Decoder decoder;
    Frame inner = ipv4(6, tcp(40000, 80, filler(20)));
    Frame frame = ethernet(0x0800, ipv4(4, inner, kOuterA, kOuterB));  // IPv4 in IPv4
    Packet out;
    ASSERT_EQ(decoder.addresses(DLT_EN10MB, frame, out), DecodeResult::kPacket);
    EXPECT_EQ(out.source, address(kClient4));
    EXPECT_EQ(out.target, address(kServer4));
}

TEST(DecoderAddresses, HoldsNothingForAFragment) {
    Decoder decoder;
    Frame first = ethernet(0x86dd, ipv6(44, ipv6_fragment(17, 0, true, 7) + filler(64)));
    Packet out;
    EXPECT_EQ(decoder.addresses(DLT_EN10MB, first, out), DecodeResult::kHeld);
    EXPECT_EQ(out.source, address(kClient6));
    EXPECT_EQ(decoder.memory_bytes(), Decoder().memory_bytes());
}

// Frames of the shapes Decoder::addresses() reads without the full decoder, and damaged
// variants of them: each must get the result and the addresses decode() gives it.
std::vector<Frame> address_cases() {
    Frame tcp4 = ethernet(0x0800, ipv4(6, tcp(40000, 80, filler(20))));
    Frame udp4 = ethernet(0x0800, ipv4(17, udp(50000, 53, filler(12))));
    std::vector<Frame> cases = {
        tcp4,
        udp4,
        ethernet(0x8100, vlan_tag(7, 0x0800) + ipv4(6, tcp(40000, 80, filler(20)))),
        ethernet(0x86dd, ipv6(6, tcp(40000, 443, filler(20)))),
        ethernet(0x86dd, ipv6(17, udp(50000, 53, filler(12)))),
        ethernet(0x0800, ipv4(17, udp(50000, 4789, filler(30)))),  // the VXLAN port
        ethernet(0x0800, ipv4(17, udp(50000, 3544, filler(30)))),  // the Teredo port
    };
    Frame long_tcp_header = tcp4;
    long_tcp_header[14 + 20 + 12] = 0xF0;  // 60 bytes of TCP header in a 40-byte segment
    Frame short_tcp_header = tcp4;
    short_tcp_header[14 + 20 + 12] = 0x40;  // 16 bytes
    auto with_field = [](Frame frame, size_t offset, uint16_t value) {
        frame.at(offset) = static_cast<uint8_t>(value >> 8);
        frame.at(offset + 1) = static_cast<uint8_t>(value);
        return frame;
    };
    Frame short_udp_length = with_field(udp4, 14 + 20 + 4, 4);
    Frame zero_total_length = with_field(tcp4, 14 + 2, 0);
    Frame total_below_header = with_field(tcp4, 14 + 2, 12);
    Frame truncated_tcp = tcp4;
    truncated_tcp.resize(14 + 20 + 15);
    Frame truncated_vlan = ethernet(0x8100, bytes({0, 7}));
    Frame fragment = tcp4;
    fragment[14 + 6] = 0x20;  // more fragments
    for (const Frame& frame :
         {long_tcp_header, short_tcp_header, short_udp_length, zero_total_length,
          total_below_header, truncated_tcp, truncated_vlan, fragment}) {
        cases.push_back(frame);
    }
    return cases;
}

TEST(DecoderAddresses, AgreeWithDecodeOnPlainShapes) {
    std::vector<Frame> cases = address_cases();
    for (size_t i = 0; i < cases.size(); ++i) {
        SCOPED_TRACE(i);
        Decoder shard_decoder;
        Decoder full_decoder;
        Packet addresses;
        Packet packet;
        DecodeResult quick = shard_decoder.addresses(DLT_EN10MB, cases[i], addresses);
        DecodeResult full = full_decoder.decode(
            DLT_EN10MB, cases[i], static_cast<uint32_t>(cases[i].size()), 1'000'000, packet);
        if (full == DecodeResult::kHeld) continue;  // a fragment: addresses() reads it alone
        EXPECT_EQ(quick, full);
        if (full != DecodeResult::kPacket) continue;
        EXPECT_EQ(addresses.source, packet.source);
        EXPECT_EQ(addresses.target, packet.target);
    }
}

// UDP frames from kClient4 to 100 servers, one flow each, spread over the workers.
void feed_hundred_flows(pipeline::ShardedPipeline& sharded) {
    for (uint16_t port = 1000; port < 1100; ++port) {
        V4 server = {192, 0, 2, static_cast<uint8_t>(port)};
        Frame frame = ethernet(0x0800, ipv4(17, udp(port, 53, filler(12)), kClient4, server));
        sharded.process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()),
                              1'700'000'000'000'000 + port);
    }
}

TEST(ShardedPipeline, CountsEveryFrameOnce) {
    pipeline::Settings settings;
    pipeline::ShardedPipeline sharded(settings, {}, 3);
    feed_hundred_flows(sharded);
    sharded.finish();
    pipeline::Summary summary = sharded.summary();
    EXPECT_EQ(summary.frames, 100u);
    EXPECT_EQ(summary.flows, 100u);
    EXPECT_EQ(summary.events, 300u);  // connect, statistics and disconnect of each
}

TEST(ShardedPipeline, LiveHooksReachEveryWorker) {
    for (unsigned workers : {1u, 3u}) {
        SCOPED_TRACE(workers);
        pipeline::Settings settings;
        pipeline::ShardedPipeline sharded(settings, {}, workers);
        feed_hundred_flows(sharded);
        // Before finish(): the frames still in a worker's batch are handed over first.
        EXPECT_EQ(sharded.open_flows().size(), 100u);
        EXPECT_EQ(sharded.current_summary().frames, 100u);
        sharded.mark_open_flows_partial();
        // Long after the last packet, every flow is idle and expires on its worker.
        sharded.expire_idle(1'700'000'000'000'000 + 3'600'000'000LL);
        EXPECT_TRUE(sharded.open_flows().empty());
        sharded.finish();
        EXPECT_EQ(sharded.summary().flows, 100u);
        EXPECT_EQ(sharded.current_summary().frames, 100u);  // after finish(), on this thread
    }
}

}  // namespace
}  // namespace pw::decode::test
