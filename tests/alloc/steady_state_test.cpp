// Counts heap allocations while the pipeline replays packets of flows it already tracks.
// Once a flow is created and classified, a packet must not allocate: the cost per packet
// then stays flat, and a flood of packets cannot fragment the heap. The same holds for a
// capture file read from its mapping, and for the frames a sharded pipeline hands its
// workers.
//
// It also checks the heap bytes that a tracked flow takes.
//
// This is its own executable because it replaces the global operator new.

#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>

#include "../unit/decode_frames.h"
#include "capture/file_reader.h"
#include "pipeline/pipeline.h"
#include "pipeline/sharded_pipeline.h"

namespace {
std::atomic<uint64_t> allocations{0};
// Heap bytes allocated through operator new and not yet freed, counted as malloc counts
// them: each block's usable size and the size word before it.
std::atomic<int64_t> heap_bytes{0};

int64_t held_bytes(void* p) { return static_cast<int64_t>(malloc_usable_size(p) + sizeof(size_t)); }

void release(void* p) {
    if (p == nullptr) return;
    heap_bytes.fetch_sub(held_bytes(p), std::memory_order_relaxed);
    std::free(p);
}
}  // namespace

void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        heap_bytes.fetch_add(held_bytes(p), std::memory_order_relaxed);
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }

namespace pw::decode::test {
namespace {

constexpr int64_t kStart = 1'700'000'000'000'000;

Frame text(const std::string& s) { return Frame(s.begin(), s.end()); }

class SteadyState : public ::testing::Test {
  protected:
    void feed(const Frame& frame) {
        pipeline_.process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()),
                                now_ += 100);
    }
    // A TCP segment of the client (10.0.0.1:40000) or the server (192.0.2.80:80).
    Frame segment(bool from_client, const Frame& payload, uint8_t flags = 0x18) {
        uint32_t& seq = from_client ? client_seq_ : server_seq_;
        uint32_t ack = from_client ? server_seq_ : client_seq_;
        Frame ip = from_client
                       ? ipv4(6, tcp(40000, 80, payload, flags, seq, ack), kClient4, kServer4)
                       : ipv4(6, tcp(80, 40000, payload, flags, seq, ack), kServer4, kClient4);
        seq += static_cast<uint32_t>(payload.size()) + ((flags & 0x03) ? 1 : 0);
        return ethernet(0x0800, ip);
    }
    // Allocations while `frames` are fed; the frames must all belong to the one flow.
    uint64_t allocations_during(const std::vector<Frame>& frames) {
        uint64_t before = allocations.load();
        for (const Frame& frame : frames) feed(frame);
        uint64_t counted = allocations.load() - before;
        EXPECT_EQ(pipeline_.summary().flows, 1u);
        return counted;
    }

    pipeline::Pipeline pipeline_{pipeline::Settings{}, {}};
    int64_t now_ = kStart;
    uint32_t client_seq_ = 1000;
    uint32_t server_seq_ = 5000;
};

TEST_F(SteadyState, ClassifiedTcpFlowAllocatesNothingPerPacket) {
    feed(segment(true, {}, 0x02));   // SYN
    feed(segment(false, {}, 0x12));  // SYN ACK
    feed(segment(true, {}, 0x10));
    feed(segment(true, text("GET /big HTTP/1.1\r\nHost: example.test\r\n\r\n")));
    feed(segment(false, text("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                             "Content-Length: 100000000\r\n\r\n")));
    // Warm up past the detectors' bounds on the body, then count.
    for (int i = 0; i < 5000; ++i) feed(segment(false, filler(1400, static_cast<uint8_t>(i))));
    std::vector<Frame> frames;
    for (int i = 0; i < 10000; ++i) {
        frames.push_back(segment(false, filler(1400, static_cast<uint8_t>(i))));
        if (i % 10 == 0) frames.push_back(segment(true, {}, 0x10));  // ACKs
    }
    EXPECT_EQ(allocations_during(frames), 0u);
}

TEST_F(SteadyState, UnidentifiedTcpFlowAllocatesNothingOnceInspectionStops) {
    feed(segment(true, {}, 0x02));
    feed(segment(false, {}, 0x12));
    feed(segment(true, {}, 0x10));
    for (int i = 0; i < 200; ++i) feed(segment(i % 2 == 0, filler(700, static_cast<uint8_t>(i))));
    std::vector<Frame> frames;
    for (int i = 0; i < 10000; ++i) {
        frames.push_back(segment(i % 2 == 0, filler(700, static_cast<uint8_t>(i * 7))));
    }
    EXPECT_EQ(allocations_during(frames), 0u);
}

TEST_F(SteadyState, UdpFlowAllocatesNothingPerDatagram) {
    auto datagram = [](int i) {
        return ethernet(0x0800, ipv4(17, udp(50000, 9999, filler(200, static_cast<uint8_t>(i)))));
    };
    for (int i = 0; i < 100; ++i) feed(datagram(i));
    std::vector<Frame> frames;
    for (int i = 0; i < 10000; ++i) frames.push_back(datagram(i));
    EXPECT_EQ(allocations_during(frames), 0u);
}

// A UDP datagram of flow `flow` (its own source address), of 200 bytes.
Frame datagram(uint8_t flow, int i) {
    V4 source = {10, 0, 1, flow};
    return ethernet(0x0800,
                    ipv4(17, udp(50000, 9999, filler(200, static_cast<uint8_t>(i))), source));
}

// Writes a classic pcap file (little-endian, microseconds, Ethernet) of `count` datagrams
// of one flow, and removes it when done.
struct CaptureFile {
    std::filesystem::path path;
    CaptureFile(const std::string& name, int count)
        : path(std::filesystem::temp_directory_path() /
               ("protowatch-alloc-" + std::to_string(getpid()) + "-" + name + ".pcap")) {
        Frame bytes;
        for (uint32_t word : {0xA1B2C3D4u, 0x00040002u, 0u, 0u, 65535u, 1u}) put_le32(bytes, word);
        for (int i = 0; i < count; ++i) {
            Frame frame = datagram(1, i);
            put_le32(bytes, 1'700'000'000u + static_cast<uint32_t>(i / 1000));
            put_le32(bytes, static_cast<uint32_t>(i % 1000) * 1000);
            put_le32(bytes, static_cast<uint32_t>(frame.size()));
            put_le32(bytes, static_cast<uint32_t>(frame.size()));
            bytes.insert(bytes.end(), frame.begin(), frame.end());
        }
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
    }
    ~CaptureFile() { std::filesystem::remove(path); }
};

// Allocations while a whole capture file is read into a pipeline, setup included.
uint64_t allocations_reading(const CaptureFile& file) {
    pipeline::Pipeline pipeline(pipeline::Settings{}, {});
    capture::FileReader reader;
    uint64_t before = allocations.load();
    capture::ReadResult result = reader.read(
        file.path, &pipeline::Pipeline::supports_link_type, [&](const capture::Frame& frame) {
            pipeline.process_frame(frame.linktype, frame.data, frame.wire_length, frame.time_us);
        });
    uint64_t counted = allocations.load() - before;
    EXPECT_TRUE(result.direct);
    return counted;
}

TEST(SteadyStateReading, PcapFileAllocatesNothingPerFrame) {
    CaptureFile small("small", 1'000);
    CaptureFile large("large", 20'000);
    // Opening, the flow and its inspection allocate alike for both; frames add nothing.
    // The first read warms the caches that outlive a pipeline (freed detector states).
    allocations_reading(small);
    uint64_t for_small = allocations_reading(small);
    uint64_t for_large = allocations_reading(large);
    EXPECT_EQ(for_large, for_small);
}

// Allocations while `count` frames of two flows go through a sharded pipeline with two
// workers, until the workers are done with them (drain() itself allocates a fixed amount).
uint64_t allocations_sharded(pipeline::ShardedPipeline& sharded, const std::vector<Frame>& frames,
                             int count, bool borrowed, int64_t& now) {
    uint64_t before = allocations.load();
    for (int i = 0; i < count; ++i) {
        const Frame& frame = frames[static_cast<size_t>(i) % frames.size()];
        sharded.process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()), now += 100,
                              borrowed);
    }
    sharded.drain();
    return allocations.load() - before;
}

TEST(SteadyStateReading, ShardedPipelineAllocatesNothingPerFrame) {
    std::vector<Frame> frames;
    for (int i = 0; i < 64; ++i) frames.push_back(datagram(static_cast<uint8_t>(1 + i % 2), i));
    for (bool borrowed : {true, false}) {
        SCOPED_TRACE(borrowed ? "borrowed frames" : "copied frames");
        pipeline::ShardedPipeline sharded(pipeline::Settings{}, {}, 2);
        int64_t now = kStart;
        allocations_sharded(sharded, frames, 20'000, borrowed, now);  // warm up
        uint64_t few = allocations_sharded(sharded, frames, 1'000, borrowed, now);
        uint64_t many = allocations_sharded(sharded, frames, 50'000, borrowed, now);
        EXPECT_LE(many, few);
        sharded.finish();
        EXPECT_EQ(sharded.summary().flows, 2u);
    }
}

// The heap a flow takes, table slots included, is at most 512 bytes, also while it is
// under inspection: a TCP flow that sent only its SYN keeps its detectors' session and
// both streams' reassembly state. 100,000 of them are opened, each from its own address.
TEST(FlowMemory, TrackedFlowTakesAtMost512Bytes) {
    constexpr uint32_t kFlows = 100'000;
    std::vector<Frame> frames;
    frames.reserve(kFlows);
    for (uint32_t i = 0; i < kFlows; ++i) {
        V4 source = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                     static_cast<uint8_t>(i)};
        frames.push_back(ethernet(0x0800, ipv4(6, tcp(40000, 80, {}, 0x02), source)));
    }
    const int64_t before = heap_bytes.load();
    auto pipeline = std::make_unique<pipeline::Pipeline>(pipeline::Settings{},
                                                         std::vector<events::EventSink*>{});
    int64_t now = kStart;
    for (const Frame& frame : frames) {
        pipeline->process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()), now++);
    }
    ASSERT_EQ(pipeline->summary().flows, kFlows);
    const double per_flow = static_cast<double>(heap_bytes.load() - before) / kFlows;
    RecordProperty("bytes_per_flow", std::to_string(per_flow));
    EXPECT_LE(per_flow, 512.0);
}

}  // namespace
}  // namespace pw::decode::test
