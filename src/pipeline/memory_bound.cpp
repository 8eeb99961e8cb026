// The memory bound of the pipeline: accounting of the bytes flows, IP fragments and TCP
// reassembly buffers hold, and eviction when they exceed --max-memory together.

#include "pipeline/memory_bound.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "pipeline/inspection.h"
#include "pipeline/pipeline.h"

namespace pw::pipeline {
namespace {

using flow::Flow;

// Estimates of what a tracked flow costs on 64-bit glibc. Every flow has its Flow, its
// slots in the table's index (16 to 32 bytes) and malloc's header. A flow still inspected
// has its Inspection and the detectors' states too, which vary with the protocol (an HTTP
// body decoder keeps a zlib window): about 2.2 KiB more. The sum for an inspected flow was
// checked against the peak RSS per flow of 100,000 TCP flows that each sent one HTTP
// request: 2.6 KiB (RelWithDebInfo, glibc 2.36). The flow record and its index then took
// about 270 bytes more than now.
// Where the program counts its heap (heap_meter), the inspections are charged what they
// and their detectors' states hold when that is more than the estimate: a flood of flows
// that each make a detector buffer kilobytes (a large TLS handshake, an HTTP head that
// never ends, a gzip body's window) is bounded too.
// NOTE: without the count (benchmarks, fuzzers) such floods are undercounted.
constexpr size_t kFlowBytes = sizeof(Flow) + 32 + 16;
constexpr size_t kInspectionBytes = sizeof(Inspection) + 2048;

// A flow without packets for this long is idle: ending it costs less than dropping held
// fragments or out-of-order data of active flows, so idle flows go first.
constexpr int64_t kIdleUs = 30 * 1'000'000;

constexpr std::chrono::seconds kLogInterval{10};

}  // namespace

MemoryBound::MemoryBound(size_t limit_bytes) { report_.limit_bytes = limit_bytes; }

void MemoryBound::record(size_t used) {
    if (used > report_.peak_bytes) report_.peak_bytes = used;
}

void MemoryBound::count_reassembly(size_t bytes) {
    ++report_.reassembly_buffers_evicted;
    report_.reassembly_bytes_evicted += bytes;
}

void MemoryBound::log_evictions() {
    if (report_.evictions() == evictions_logged_) return;
    auto now = std::chrono::steady_clock::now();
    if (evictions_logged_ > 0 && now - last_log_ < kLogInterval) return;
    last_log_ = now;
    evictions_logged_ = report_.evictions();
    spdlog::warn(
        "memory bound of {} bytes reached: evicted {} flows, {} incomplete fragment sets and "
        "the out-of-order data of {} TCP streams so far; raise --max-memory to keep more",
        report_.limit_bytes, report_.flows_evicted, report_.fragment_sets_evicted,
        report_.reassembly_buffers_evicted);
}

size_t Pipeline::memory_in_use() const {
    const size_t estimated = inspections_ * kInspectionBytes;
    const size_t measured = inspection_heap_ > 0 ? static_cast<size_t>(inspection_heap_) : 0;
    return table_.size() * kFlowBytes + std::max(estimated, measured) + decoder_.memory_bytes() +
           memory_.reassembly().bytes();
}

size_t Pipeline::memory_in_use_by_all(size_t own) const {
    if (shared_ == nullptr || shared_->max_memory_bytes == 0) return own;
    const int64_t others =
        shared_->memory_bytes.load(std::memory_order_relaxed) - published_memory_;
    return own + static_cast<size_t>(std::max<int64_t>(others, 0));
}

void Pipeline::publish_memory(size_t own, bool always) {
    if (shared_ == nullptr || shared_->max_memory_bytes == 0) return;
    const int64_t change = static_cast<int64_t>(own) - published_memory_;
    if (!always && change < SharedBounds::kMemoryStep && change > -SharedBounds::kMemoryStep) {
        return;
    }
    shared_->memory_bytes.fetch_add(change, std::memory_order_relaxed);
    published_memory_ = static_cast<int64_t>(own);
}

void Pipeline::enforce_memory_bound(int64_t now_us) {
    // Evict in order of what loses the least. Idle flows go first, because their events
    // are written as they end. Then incomplete IP datagrams, then out-of-order TCP data,
    // which costs a gap in an active stream, and last the active flows, the oldest first.
    // With shared bounds the pipeline evicts only its own flows and data, and leaves a flow
    // to the pipeline whose oldest one is older (shared_bounds.h).
    const bool sharing = shared_ != nullptr && shared_->max_memory_bytes > 0;
    while (true) {
        const size_t used = memory_in_use_by_all(memory_in_use());
        if (!memory_.over(used)) break;
        Flow* oldest = table_.oldest_overall();
        const int64_t idle = oldest != nullptr ? now_us - oldest->last_us : -1;
        int64_t idle_elsewhere = -1;
        bool may_wait = false;
        if (sharing) {
            idle_elsewhere = shared_->max_idle_elsewhere(shared_index_);
            const size_t slack = shared_->pipelines * SharedBounds::kWaitSlack;
            may_wait = idle_elsewhere > idle && used <= shared_->max_memory_bytes + slack;
        }
        if (oldest != nullptr && idle >= kIdleUs && idle >= idle_elsewhere) {
            evict_for_memory(oldest);
        } else if (may_wait && idle_elsewhere >= kIdleUs) {
            break;  // the pipeline with the older idle flow ends it first
        } else if (decoder_.evict_oldest_fragments()) {
            memory_.count_fragment_set();
        } else if (size_t freed = memory_.reassembly().evict_oldest(); freed > 0) {
            memory_.count_reassembly(freed);
        } else if (oldest != nullptr && !may_wait) {
            evict_for_memory(oldest);
        } else {
            break;
        }
    }
    const size_t own = memory_in_use();
    // With shared bounds the peak is that of every pipeline together, from the others'
    // published totals (up to kMemoryStep behind each).
    memory_.record(memory_in_use_by_all(own));
    publish_memory(own, false);
    if (sharing) publish_oldest_idle(now_us);
    memory_.log_evictions();
}

void Pipeline::publish_oldest_idle(int64_t now_us) {
    const Flow* oldest = table_.oldest_overall();
    const int64_t idle = oldest != nullptr ? std::max<int64_t>(now_us - oldest->last_us, 0) : -1;
    std::atomic<int64_t>& slot = shared_->oldest_idle_us[shared_index_].us;
    if (slot.load(std::memory_order_relaxed) != idle) slot.store(idle, std::memory_order_relaxed);
}

void Pipeline::evict_for_memory(Flow* flow) {
    memory_.count_flow();
    ++summary_.flows_evicted;
    end_flow(flow, events::EndReason::kEvicted);
}

}  // namespace pw::pipeline
