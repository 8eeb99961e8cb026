// Micro-benchmarks of the pipeline's layers: reading a capture file, decoding, the
// sharded pipeline's choice of worker, the flow table, TCP reassembly, the detectors, the
// memory held per tracked flow, and the whole pipeline on the project's sample capture.

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <pcap/dlt.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "capture/file_reader.h"
#include "decode/decoder.h"
#include "detect/detector.h"
#include "flow/flow_key.h"
#include "flow/flow_table.h"
#include "flow/tcp_reassembly.h"
#include "pipeline/pipeline.h"

namespace {

using namespace pw;

// An Ethernet frame carrying IPv4 and TCP with `payload` bytes of data.
std::vector<uint8_t> tcp_frame(uint32_t source, uint16_t source_port, size_t payload) {
    std::vector<uint8_t> frame(14 + 20 + 20 + payload, 0);
    frame[12] = 0x08;  // IPv4 ethertype
    uint8_t* ip = frame.data() + 14;
    ip[0] = 0x45;
    uint16_t total = static_cast<uint16_t>(40 + payload);
    ip[2] = static_cast<uint8_t>(total >> 8);
    ip[3] = static_cast<uint8_t>(total);
    ip[8] = 64;
    ip[9] = 6;
    uint32_t src = htonl(source), dst = htonl(0xC6336401);  // 198.51.100.1
    std::memcpy(ip + 12, &src, 4);
    std::memcpy(ip + 16, &dst, 4);
    uint8_t* tcp = ip + 20;
    tcp[0] = static_cast<uint8_t>(source_port >> 8);
    tcp[1] = static_cast<uint8_t>(source_port);
    tcp[3] = 80;
    tcp[12] = 0x50;
    tcp[13] = 0x18;  // PSH, ACK
    return frame;
}

void BM_DecodeTcpFrame(benchmark::State& state) {
    decode::Decoder decoder;
    std::vector<uint8_t> frame = tcp_frame(0xC0000201, 40000, 512);
    decode::Packet packet;
    for (auto _ : state) {
        auto result = decoder.decode(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()),
                                     1'000'000, packet);
        benchmark::DoNotOptimize(result);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeTcpFrame);

// The sharded pipeline's reading thread: the addresses of a TCP frame, read without the
// full decoder, and the worker they pick.
void BM_ShardAddresses(benchmark::State& state) {
    decode::Decoder decoder;
    std::vector<uint8_t> frame = tcp_frame(0xC0000201, 40000, 512);
    decode::Packet packet;
    for (auto _ : state) {
        auto result =
            decoder.addresses(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()), packet);
        benchmark::DoNotOptimize(result);
        benchmark::DoNotOptimize(flow::address_pair_hash(packet.source, packet.target));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ShardAddresses);

// Reading a classic pcap file of 100,000 frames of 554 bytes (the page cache keeps it after
// the first iteration), touching each frame's first byte.
void BM_PcapFileRead(benchmark::State& state) {
    constexpr uint32_t kFrames = 100'000;
    std::vector<uint8_t> frame = tcp_frame(0xC0000201, 40000, 500);
    std::string path = "/tmp/protowatch-bench-read-" + std::to_string(getpid()) + ".pcap";
    {
        std::ofstream out(path, std::ios::binary);
        const uint32_t header[] = {0xA1B2C3D4, 0x00040002, 0, 0, 65535, 1};
        out.write(reinterpret_cast<const char*>(header), sizeof header);
        for (uint32_t i = 0; i < kFrames; ++i) {
            const uint32_t record[] = {1'700'000'000 + i / 1000, i % 1000 * 1000,
                                       static_cast<uint32_t>(frame.size()),
                                       static_cast<uint32_t>(frame.size())};
            out.write(reinterpret_cast<const char*>(record), sizeof record);
            out.write(reinterpret_cast<const char*>(frame.data()),
                      static_cast<std::streamsize>(frame.size()));
        }
    }
    capture::FileReader reader;
    uint64_t check = 0;
    for (auto _ : state) {
        reader.read(
            path, [](int) { return true; }, [&](const capture::Frame& f) { check += f.data[0]; });
    }
    benchmark::DoNotOptimize(check);
    std::remove(path.c_str());
    state.SetItemsProcessed(state.iterations() * kFrames);
}
BENCHMARK(BM_PcapFileRead)->Unit(benchmark::kMillisecond);

void BM_FlowTableFindInsert(benchmark::State& state) {
    const auto flows = static_cast<uint32_t>(state.range(0));
    std::vector<flow::FlowKey> keys;
    for (uint32_t i = 0; i < flows; ++i) {
        decode::Packet packet;
        uint8_t a[4] = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                        static_cast<uint8_t>(i)};
        uint8_t b[4] = {198, 51, 100, 1};
        packet.source = decode::IpAddress::v4(a);
        packet.target = decode::IpAddress::v4(b);
        packet.source_port = static_cast<uint16_t>(1024 + i % 60000);
        packet.target_port = 443;
        packet.ip_protocol = 6;
        bool low = false;
        keys.push_back(flow::FlowKey::of(packet, low));
    }
    flow::FlowTable table(flows);
    for (const auto& key : keys) table.insert(key);
    size_t i = 0;
    for (auto _ : state) {
        flow::Flow* found = table.find(keys[i]);
        table.touch(found);
        benchmark::DoNotOptimize(found);
        i = (i + 1) % keys.size();
    }
    state.SetItemsProcessed(state.iterations());
    // The flow record; its slot in the table and detector state are extra.
    state.counters["flow_bytes"] = static_cast<double>(sizeof(flow::Flow));
}
BENCHMARK(BM_FlowTableFindInsert)->Arg(1000)->Arg(100000);

// A DNS query for example.com in an Ethernet frame, from `source`: a flow the detectors
// classify at its first packet.
std::vector<uint8_t> dns_frame(uint32_t source, uint16_t source_port) {
    const uint8_t query[] = {0x12, 0x34, 0x01, 0x00, 0,   1, 0,   0,   0,   0, 0, 0, 7, 'e', 'x',
                             'a',  'm',  'p',  'l',  'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
    std::vector<uint8_t> frame = tcp_frame(source, source_port, sizeof query - 12);
    uint8_t* ip = frame.data() + 14;
    ip[9] = 17;
    ip[3] = static_cast<uint8_t>(20 + 8 + sizeof query);
    uint8_t* udp = ip + 20;
    udp[2] = 0;
    udp[3] = 53;
    udp[4] = 0;
    udp[5] = static_cast<uint8_t>(8 + sizeof query);
    udp[6] = udp[7] = 0;
    std::memcpy(udp + 8, query, sizeof query);
    frame.resize(14 + 20 + 8 + sizeof query);
    return frame;
}

// Heap bytes held per tracked flow, read from the heap in use before and after 100,000
// flows are opened: with argument 0 TCP flows that sent a SYN, still under inspection;
// with 1 DNS flows, classified at once, so that only the flow record remains. The figure
// includes the table's slots, the flow and, while it lasts, the inspection state with its
// reassembly.
void BM_MemoryPerTrackedFlow(benchmark::State& state) {
    constexpr uint32_t kFlows = 100'000;
    const bool classified = state.range(0) == 1;
    std::vector<std::vector<uint8_t>> frames;
    frames.reserve(kFlows);
    for (uint32_t i = 0; i < kFlows; ++i) {
        auto port = static_cast<uint16_t>(1024 + i % 60000);
        if (classified) {
            frames.push_back(dns_frame(0x0A000000 + i, port));
        } else {
            frames.push_back(tcp_frame(0x0A000000 + i, port, 0));
            frames.back()[14 + 20 + 13] = 0x02;  // SYN
        }
    }
    for (auto _ : state) {
        state.PauseTiming();
        size_t before = mallinfo2().uordblks;
        state.ResumeTiming();
        auto pipeline = std::make_unique<pipeline::Pipeline>(pipeline::Settings{},
                                                             std::vector<events::EventSink*>{});
        int64_t now = 1'000'000;
        for (const auto& frame : frames) {
            pipeline->process_frame(DLT_EN10MB, frame, static_cast<uint32_t>(frame.size()), now++);
        }
        state.PauseTiming();
        size_t after = mallinfo2().uordblks;
        state.counters["bytes_per_flow"] =
            static_cast<double>(after - before) / static_cast<double>(kFlows);
        state.counters["flow_struct_bytes"] = static_cast<double>(sizeof(flow::Flow));
        pipeline.reset();
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * kFlows);
}
BENCHMARK(BM_MemoryPerTrackedFlow)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_ReassemblyInOrder(benchmark::State& state) {
    std::vector<uint8_t> data(1400, 'x');
    flow::ReassemblyLimits limits;
    uint64_t delivered = 0;
    auto deliver = [&](std::span<const uint8_t> bytes, uint64_t) { delivered += bytes.size(); };
    flow::StreamReassembler stream;
    stream.set_initial_sequence(0);
    uint32_t seq = 1;
    for (auto _ : state) {
        stream.add(seq, data, limits, deliver);
        seq += static_cast<uint32_t>(data.size());
    }
    state.SetBytesProcessed(static_cast<int64_t>(delivered));
}
BENCHMARK(BM_ReassemblyInOrder);

void BM_ReassemblyOutOfOrder(benchmark::State& state) {
    std::vector<uint8_t> data(1400, 'x');
    flow::ReassemblyLimits limits;
    uint64_t delivered = 0;
    auto deliver = [&](std::span<const uint8_t> bytes, uint64_t) { delivered += bytes.size(); };
    flow::StreamReassembler stream;
    stream.set_initial_sequence(0);
    uint32_t seq = 1;
    for (auto _ : state) {
        // Each pair of segments arrives swapped.
        stream.add(seq + 1400, data, limits, deliver);
        stream.add(seq, data, limits, deliver);
        seq += 2800;
    }
    state.SetBytesProcessed(static_cast<int64_t>(delivered));
}
BENCHMARK(BM_ReassemblyOutOfOrder);

// Every detector on the first segment of a flow that none of them recognizes: the cost of
// inspecting unknown traffic.
void BM_DetectorsUnknownSegment(benchmark::State& state) {
    auto detectors = detect::make_detectors();
    std::vector<uint8_t> data(512);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 131 + 7);
    uint8_t a[4] = {192, 0, 2, 1}, b[4] = {198, 51, 100, 1};
    decode::Packet packet;
    for (auto _ : state) {
        detect::Session session(detect::Transport::kTcp, decode::IpAddress::v4(a), 40000,
                                decode::IpAddress::v4(b), 5555);
        detect::Segment segment{data, true, 0, &packet};
        for (auto& detector : detectors) {
            benchmark::DoNotOptimize(detector->inspect(session, segment));
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DetectorsUnknownSegment);

void BM_PipelineSampleCapture(benchmark::State& state) {
    std::string path = std::string(PROTOWATCH_SOURCE_DIR) + "/tests/captures/sample.pcap";
    struct Stored {
        int linktype;
        std::vector<uint8_t> data;
        uint32_t wire;
        int64_t time;
    };
    std::vector<Stored> frames;
    capture::FileReader reader;
    reader.read(
        path, [](int) { return true; },
        [&](const capture::Frame& f) {
            frames.push_back(
                {f.linktype, {f.data.begin(), f.data.end()}, f.wire_length, f.time_us});
        });
    for (auto _ : state) {
        pipeline::Pipeline pipeline(pipeline::Settings{}, {});
        for (const Stored& f : frames) pipeline.process_frame(f.linktype, f.data, f.wire, f.time);
        pipeline.finish();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(frames.size()));
}
BENCHMARK(BM_PipelineSampleCapture);

}  // namespace
