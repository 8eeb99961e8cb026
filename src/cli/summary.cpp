#include "cli/summary.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

namespace pw::cli {

namespace {

void print_memory(const pipeline::MemoryReport& memory) {
    if (memory.limit_bytes == 0) return;
    fmt::print(stderr,
               "memory bound {} bytes  peak {}  evicted flows {}  fragment sets {}  "
               "reassembly buffers {} ({} bytes)\n",
               memory.limit_bytes, memory.peak_bytes, memory.flows_evicted,
               memory.fragment_sets_evicted, memory.reassembly_buffers_evicted,
               memory.reassembly_bytes_evicted);
}

double per_flow(uint64_t packets, uint64_t flows) {
    return flows > 0 ? static_cast<double>(packets) / static_cast<double>(flows) : 0.0;
}

// The mean packets per flow that reached deep packet inspection, by transport, defined as
// ndpiReader's "DPI Packets" so that the two compare on the same capture.
void print_inspection(const pipeline::Summary& s) {
    static constexpr const char* kNames[pipeline::kTransportClasses] = {"tcp", "udp", "other"};
    uint64_t flows = 0;
    uint64_t packets = 0;
    fmt::print(stderr, "packets inspected per flow:");
    for (size_t i = 0; i < pipeline::kTransportClasses; ++i) {
        const pipeline::TransportInspection& counts = s.inspection_by_transport[i];
        flows += counts.flows;
        packets += counts.packets;
        if (counts.flows == 0) continue;
        fmt::print(stderr, " {} {:.2f} ({} flows)", kNames[i],
                   per_flow(counts.packets, counts.flows), counts.flows);
    }
    fmt::print(stderr, " all {:.2f}\n", per_flow(packets, flows));
}

}  // namespace

void print_summary(const pipeline::Summary& s, uint64_t unsupported_frames,
                   const store::StoreStats* store, bool output_closed) {
    if (output_closed) {
        fmt::print(stderr,
                   "output closed: the reader of the --json output went away, so reading "
                   "stopped; the counts and the store cover the frames read until then\n");
    }
    fmt::print(stderr, "frames {}  bytes {}  packets {}  not tracked {}  malformed {}\n", s.frames,
               s.bytes, s.packets, s.not_tracked, s.malformed);
    if (unsupported_frames > 0) {
        fmt::print(stderr, "frames of unsupported link types {}\n", unsupported_frames);
    }
    fmt::print(stderr, "flows {}  timed out {}  evicted {}  events {}\n", s.flows,
               s.flows_timed_out, s.flows_evicted, s.events);
    print_inspection(s);
    print_memory(s.memory);
    if (store != nullptr && store->lost > 0) {
        fmt::print(stderr, "events not stored {} of {} (see the event store error above)\n",
                   store->lost, store->written);
    }

    std::vector<std::pair<uint64_t, ProtocolId>> protocols;
    for (auto [id, count] : s.flows_by_protocol) protocols.emplace_back(count, id);
    std::sort(protocols.rbegin(), protocols.rend());
    if (!protocols.empty()) {
        fmt::print(stderr, "protocols (flows):");
        for (auto [count, id] : protocols) fmt::print(stderr, " {} {}", protocol_name(id), count);
        fmt::print(stderr, "\n");
    }

    bool any = false;
    for (size_t i = 0; i < static_cast<size_t>(decode::Anomaly::kCount); ++i) {
        auto anomaly = static_cast<decode::Anomaly>(i);
        uint64_t count = s.anomalies.get(anomaly);
        if (count == 0) continue;
        if (!any) fmt::print(stderr, "anomalies:");
        any = true;
        fmt::print(stderr, " {} {}", decode::anomaly_name(anomaly), count);
    }
    if (s.tcp_gaps > 0) {
        fmt::print(stderr, "{}tcp stream gaps skipped {}", any ? "\n" : "", s.tcp_gaps);
        any = true;
    }
    if (any) fmt::print(stderr, "\n");
}

}  // namespace pw::cli
