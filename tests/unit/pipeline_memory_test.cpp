// The memory bound of the pipeline: floods of new flows, of fragments that never complete
// and of out-of-order segments, built in the test and fed frame by frame.

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "decode_frames.h"
#include "flow/reassembly_memory.h"
#include "flow/tcp_reassembly.h"
#include "pipeline/pipeline.h"

namespace pw::pipeline {
namespace {

using decode::test::Frame;
using decode::test::V4;
using events::Activity;

constexpr uint8_t kSyn = 0x02, kAck = 0x10;
constexpr int64_t kStart = 1'700'000'000'000'000;

struct Counter : events::EventSink {
    uint64_t connects = 0;
    uint64_t disconnects = 0;
    uint64_t evicted = 0;
    void write(const events::Event& event) override {
        if (event.activity == Activity::kConnect) ++connects;
        if (event.activity == Activity::kDisconnect) {
            ++disconnects;
            if (event.reason == events::EndReason::kEvicted) ++evicted;
        }
    }
};

V4 client(uint32_t n) {
    return {10, static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 8),
            static_cast<uint8_t>(n)};
}

// Feeds frames to a pipeline with `limit` bytes of memory, checking the accounted use
// after every frame.
struct Bounded {
    Counter sink;
    Pipeline pipeline;
    uint64_t limit;
    uint64_t frames_over = 0;

    explicit Bounded(uint64_t max_memory)
        : pipeline(settings(max_memory), {&sink}), limit(max_memory) {}

    static Settings settings(uint64_t max_memory) {
        Settings settings;
        settings.max_memory_bytes = max_memory;
        return settings;
    }
    void feed(const Frame& frame, int64_t time_us) {
        pipeline.process_frame(DLT_RAW, frame, static_cast<uint32_t>(frame.size()), time_us);
        if (pipeline.summary().memory.peak_bytes > limit) ++frames_over;
    }
};

TEST(PipelineMemory, NewFlowFloodEvictsFlows) {
    Bounded run(1'000'000);
    for (uint32_t i = 0; i < 20'000; ++i) {
        Frame syn = decode::test::ipv4(6, decode::test::tcp(40000, 80, {}, kSyn, i), client(i));
        run.feed(syn, kStart + i);
    }
    MemoryReport memory = run.pipeline.summary().memory;
    EXPECT_EQ(run.frames_over, 0u);
    EXPECT_LE(memory.peak_bytes, 1'000'000u);
    EXPECT_GT(memory.flows_evicted, 15'000u);
    EXPECT_EQ(run.sink.evicted, memory.flows_evicted);

    run.pipeline.finish();
    EXPECT_EQ(run.sink.connects, 20'000u);
    EXPECT_EQ(run.sink.disconnects, 20'000u) << "every flow recorded must also end";
}

// A flow whose inspection has ended keeps only its record, so a bound that ends most
// flows still inspected keeps every one of as many finished flows. Flows of an IP protocol
// without a detector (SCTP here) finish at their first packet.
TEST(PipelineMemory, FinishedFlowsCostLess) {
    const std::vector<uint8_t> chunk(28, 0x01);
    Bounded finished(8'000'000);
    Bounded inspected(8'000'000);
    for (uint32_t i = 0; i < 20'000; ++i) {
        finished.feed(decode::test::ipv4(132, chunk, client(i)), kStart + i);
        Frame syn = decode::test::ipv4(6, decode::test::tcp(40000, 80, {}, kSyn, i), client(i));
        inspected.feed(syn, kStart + i);
    }
    EXPECT_EQ(finished.pipeline.summary().memory.flows_evicted, 0u);
    EXPECT_GT(finished.pipeline.summary().memory.peak_bytes, 20'000u * sizeof(flow::Flow));
    EXPECT_GT(inspected.pipeline.summary().memory.flows_evicted, 15'000u);
    EXPECT_EQ(inspected.frames_over, 0u);
}

// Each flow makes the TLS detector buffer 15 KB of a handshake message that never ends.
// The estimate per flow is far below that; the measured heap of the detectors counts.
TEST(PipelineMemory, DetectorBuffersCount) {
    std::vector<uint8_t> record = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01,
                                   0x00, 0x3f, 0xfc, 0x03, 0x03};
    record.resize(15'000, 'A');
    Bounded run(8'000'000);
    for (uint32_t i = 0; i < 1'000; ++i) {
        run.feed(decode::test::ipv4(6, decode::test::tcp(40000, 443, {}, kSyn, 1), client(i)),
                 kStart + i * 10);
        for (uint32_t at = 0; at < record.size(); at += 1'400) {
            const size_t end = std::min<size_t>(record.size(), at + 1'400);
            std::vector<uint8_t> chunk(record.begin() + at, record.begin() + end);
            Frame data = decode::test::ipv4(6, decode::test::tcp(40000, 443, chunk, kAck, 2 + at),
                                            client(i));
            run.feed(data, kStart + i * 10 + 1);
        }
    }
    MemoryReport memory = run.pipeline.summary().memory;
    EXPECT_GT(memory.flows_evicted, 300u);
    EXPECT_EQ(run.frames_over, 0u) << memory.peak_bytes << " evicted " << memory.flows_evicted;
}

TEST(PipelineMemory, FragmentFloodEvictsFragmentSets) {
    Bounded run(500'000);
    decode::test::Ipv4Options first_fragment;
    first_fragment.more_fragments = true;
    for (uint32_t i = 0; i < 5'000; ++i) {
        first_fragment.id = static_cast<uint16_t>(i);
        Frame fragment = decode::test::ipv4(17, decode::test::filler(1400), client(i % 64),
                                            decode::test::kServer4, first_fragment);
        run.feed(fragment, kStart + i);
    }
    MemoryReport memory = run.pipeline.summary().memory;
    EXPECT_EQ(run.frames_over, 0u);
    EXPECT_GT(memory.fragment_sets_evicted, 4'000u);
    EXPECT_EQ(memory.flows_evicted, 0u);
}

TEST(PipelineMemory, OutOfOrderFloodEvictsBuffers) {
    // 100 connections that each send 40 segments of 1000 bytes after a missing first one:
    // 4 MB of out-of-order data against a 1 MB bound.
    Bounded run(1'000'000);
    int64_t time = kStart;
    for (uint32_t i = 0; i < 100; ++i) {
        run.feed(decode::test::ipv4(6, decode::test::tcp(40000, 80, {}, kSyn, 0), client(i)),
                 time++);
    }
    for (uint32_t segment = 1; segment <= 40; ++segment) {
        for (uint32_t i = 0; i < 100; ++i) {
            Frame data = decode::test::ipv4(
                6, decode::test::tcp(40000, 80, decode::test::filler(1000), kAck, segment * 1000),
                client(i));
            run.feed(data, time++);
        }
    }
    MemoryReport memory = run.pipeline.summary().memory;
    EXPECT_EQ(run.frames_over, 0u);
    EXPECT_GT(memory.reassembly_buffers_evicted, 0u);
    EXPECT_GT(memory.reassembly_bytes_evicted, 2'000'000u);
    EXPECT_EQ(memory.flows_evicted, 0u) << "dropping buffered data comes before active flows";

    run.pipeline.finish();
    EXPECT_EQ(run.sink.connects, 100u);
    EXPECT_EQ(run.sink.disconnects, 100u);
}

TEST(PipelineMemory, IdleFlowsGoBeforeFragments) {
    Bounded run(400'000);
    for (uint32_t i = 0; i < 50; ++i) {
        run.feed(decode::test::ipv4(17, decode::test::udp(5000, 5001, {1, 2, 3}), client(i)),
                 kStart + i);
    }
    // A minute later, held fragments push the use over the bound.
    decode::test::Ipv4Options first_fragment;
    first_fragment.more_fragments = true;
    for (uint32_t i = 0; i < 300; ++i) {
        first_fragment.id = static_cast<uint16_t>(i);
        run.feed(decode::test::ipv4(17, decode::test::filler(1400), client(100),
                                    decode::test::kServer4, first_fragment),
                 kStart + 60'000'000 + i);
    }
    MemoryReport memory = run.pipeline.summary().memory;
    EXPECT_EQ(run.frames_over, 0u);
    EXPECT_EQ(memory.flows_evicted, 50u);
    EXPECT_GT(memory.fragment_sets_evicted, 0u);
}

TEST(PipelineMemory, NoBoundEvictsNothing) {
    Bounded run(0);
    for (uint32_t i = 0; i < 2'000; ++i) {
        run.feed(decode::test::ipv4(6, decode::test::tcp(40000, 80, {}, kSyn, i), client(i)),
                 kStart + i);
    }
    MemoryReport memory = run.pipeline.summary().memory;
    EXPECT_EQ(memory.evictions(), 0u);
    EXPECT_GT(memory.peak_bytes, 2'000u * sizeof(flow::Flow));
}

std::span<const uint8_t> text(const std::string& bytes) {
    return {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
}

TEST(ReassemblyMemory, CountsAndEvictsOldestStream) {
    flow::ReassemblyMemory memory;
    flow::StreamReassembler first;
    flow::StreamReassembler second;
    first.set_memory(&memory);
    second.set_memory(&memory);
    auto ignore = [](std::span<const uint8_t>, uint64_t) {};
    first.set_initial_sequence(0);
    second.set_initial_sequence(0);
    first.add(100, text(std::string(500, 'a')), {}, ignore);
    second.add(100, text(std::string(300, 'b')), {}, ignore);
    EXPECT_EQ(memory.streams(), 2u);
    EXPECT_EQ(memory.bytes(), first.memory_bytes() + second.memory_bytes());

    size_t first_held = first.memory_bytes();
    EXPECT_EQ(memory.evict_oldest(), first_held);
    EXPECT_EQ(first.buffered_bytes(), 0u);
    EXPECT_EQ(first.gaps(), 1u);
    EXPECT_EQ(memory.streams(), 1u);
    EXPECT_EQ(memory.bytes(), second.memory_bytes());
}

TEST(ReassemblyMemory, DestroyedStreamLeavesAccount) {
    flow::ReassemblyMemory memory;
    {
        flow::StreamReassembler stream;
        stream.set_memory(&memory);
        stream.set_initial_sequence(0);
        stream.add(100, text("late"), {}, [](std::span<const uint8_t>, uint64_t) {});
        EXPECT_GT(memory.bytes(), 0u);
    }
    EXPECT_EQ(memory.bytes(), 0u);
    EXPECT_EQ(memory.streams(), 0u);
    EXPECT_EQ(memory.evict_oldest(), 0u);
}

}  // namespace
}  // namespace pw::pipeline
