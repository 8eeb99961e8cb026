// The pieces the multi-threaded pipeline relies on: the shard hash and the decoder's
// address pass. Whole captures are compared between one and several workers by
// tests/golden/check-threads. The live hooks the agent calls run through every worker.

#include <gtest/gtest.h>

#include "decode_frames.h"
#include "flow/flow_key.h"
#include "pipeline/sharded_pipeline.h"

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
