// Per-flow inspection work is bounded: a flow twice as long costs the detectors nothing
// more, whatever the flow carries. Work is counted as detector calls and the bytes handed
// to them, for long flows of each kind built in the test.

#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "decode_frames.h"
#include "pipeline/pipeline.h"

namespace pw::pipeline {
namespace {

using decode::test::Frame;
using decode::test::ipv4;
using decode::test::operator+;
using decode::test::tcp;
using decode::test::udp;

constexpr uint8_t kSyn = 0x02, kAck = 0x10, kPsh = 0x08;

Frame text(const std::string& value) { return Frame(value.begin(), value.end()); }

// Packet `i` of a flow, from the client (true) or the server.
using FlowBuilder = std::function<Frame(uint32_t i)>;

// A TCP connection whose packet i carries `payload(i)`, alternating direction when
// `both_ways`, with sequence numbers that follow the bytes sent.
FlowBuilder tcp_flow(std::function<Frame(uint32_t)> payload, bool both_ways) {
    auto sent = std::make_shared<std::array<uint32_t, 2>>(std::array<uint32_t, 2>{1, 1});
    return [=](uint32_t i) {
        bool from_client = !both_ways || i % 2 == 0;
        Frame data = payload(i);
        uint32_t& seq = (*sent)[from_client ? 0 : 1];
        Frame segment = from_client ? tcp(40000, 80, data, kAck | kPsh, seq)
                                    : tcp(80, 40000, data, kAck | kPsh, seq);
        seq += static_cast<uint32_t>(data.size());
        return from_client ? ipv4(6, segment)
                           : ipv4(6, segment, decode::test::kServer4, decode::test::kClient4);
    };
}

struct Work {
    uint64_t calls = 0;
    uint64_t bytes = 0;
};

struct Kind {
    const char* name;
    std::function<FlowBuilder()> make;  // a fresh builder for each run
};

Work run_flow(const Kind& kind, uint32_t packets) {
    FlowBuilder build = kind.make();
    Pipeline pipeline(Settings{}, {});
    int64_t time = 1'700'000'000'000'000;
    for (uint32_t i = 0; i < packets; ++i) {
        Frame frame = build(i);
        pipeline.process_frame(DLT_RAW, frame, static_cast<uint32_t>(frame.size()), time);
        time += 1000;
    }
    pipeline.finish();
    Summary summary = pipeline.summary();
    return {summary.detector_calls, summary.bytes_inspected};
}

std::vector<Kind> kinds() {
    auto opaque = [](uint32_t i) { return decode::test::filler(200, static_cast<uint8_t>(i)); };
    auto http = [](uint32_t i) {
        return i % 2 == 0 ? text("GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n\r\n")
                          : text("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd");
    };
    auto smtp = [](uint32_t i) {
        return i == 0 ? text("220 mail.example ESMTP\r\n") : text("250 OK line\r\n");
    };

    std::vector<Kind> all;
    auto stateless = [](FlowBuilder build) { return [build] { return build; }; };
    all.push_back({"tcp opaque", [=] { return tcp_flow(opaque, true); }});
    all.push_back({"tcp one way", [=] { return tcp_flow(opaque, false); }});
    all.push_back({"http keep-alive", [=] { return tcp_flow(http, true); }});
    all.push_back({"smtp replies", [=] { return tcp_flow(smtp, false); }});

    all.push_back({"tcp out of order", stateless([](uint32_t i) {
                       // Pairs of segments arrive swapped: every other one waits.
                       uint32_t slot = i % 2 == 0 ? i + 1 : i - 1;
                       Frame data = decode::test::filler(100, static_cast<uint8_t>(slot));
                       return ipv4(6, tcp(40000, 80, data, kAck, 1 + slot * 100));
                   })});
    all.push_back({"udp opaque", stateless([opaque](uint32_t i) {
                       return ipv4(17, udp(5000, 6000, opaque(i)));
                   })});
    all.push_back({"dns queries", stateless([](uint32_t i) {
                       Frame query = {static_cast<uint8_t>(i >> 8),
                                      static_cast<uint8_t>(i),
                                      1,
                                      0,
                                      0,
                                      1,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      0,
                                      1,
                                      'a',
                                      0,
                                      0,
                                      1,
                                      0,
                                      1};
                       return ipv4(17, udp(40000, 53, query));
                   })});
    all.push_back({"icmp echo", stateless([](uint32_t i) {
                       Frame rest = {0, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
                       rest = rest + decode::test::filler(56);
                       return ipv4(1, decode::test::icmp(8, 0, rest));
                   })});
    return all;
}

TEST(PipelineWork, LongerFlowCostsNoMore) {
    // Beyond the largest bounds (kMaxSegmentsClassified and kMaxSegmentsOneSided, 4096
    // segments), with room. Segments under 64 bytes count one for each 64 bytes, so the
    // 13-byte SMTP replies reach the bound after about 20,000.
    constexpr uint32_t kLong = 24'000;
    for (const Kind& kind : kinds()) {
        Work shorter = run_flow(kind, kLong);
        Work longer = run_flow(kind, 2 * kLong);
        EXPECT_GT(shorter.calls, 0u) << kind.name << ": the detectors never saw the flow";
        EXPECT_EQ(longer.calls, shorter.calls) << kind.name << ": detector calls grew";
        EXPECT_EQ(longer.bytes, shorter.bytes) << kind.name << ": bytes inspected grew";
    }
}

TEST(PipelineWork, ShortFlowsCostPerPacket) {
    // Up to the bound, each packet costs at most one call per detector.
    size_t detectors = detect::make_detectors().size();
    for (const Kind& kind : kinds()) {
        Work work = run_flow(kind, 20);
        EXPECT_LE(work.calls, 20 * detectors) << kind.name;
    }
}

}  // namespace
}  // namespace pw::pipeline
