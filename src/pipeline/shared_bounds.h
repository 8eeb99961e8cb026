#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace pw::pipeline {

// The flow table and memory bounds (--max-flows, --max-memory) of pipelines that run on
// several threads, held by all of them together. Each pipeline adds what it holds, and
// one that finds the total over a bound ends its own flows or drops its own held data,
// as one pipeline would. How the traffic is shared out among the pipelines then does not
// change how much they may hold.
//
// A pipeline adds a flow at once, so the flows stay within max_flows, except that a
// pipeline with no flow of its own may still start one. It adds its memory only once the
// amount changed by kMemoryStep since it last did, so that the counter stays in every
// thread's cache. The total may then be off by up to kMemoryStep per pipeline.
// NOTE: the pipelines read their frames at their own pace, so what they hold together at a
// moment is not what one pipeline would hold at one point of the input. A pipeline may
// have ended its flows at the end of the input while another still starts the flows of
// earlier frames. The bounds then end fewer flows early than one pipeline would.
// NOTE: a pipeline over the memory bound ends its own flows, idle ones first, not the
// oldest flows of all pipelines. Under a tight bound the pipelines then end flows that
// are still active while another pipeline keeps idle ones, and more end early than with
// one pipeline: 1.6 times as many for 40,000 open flows under a 16 MB bound.
struct SharedBounds {
    SharedBounds(size_t max_flows, size_t max_memory_bytes)
        : max_flows(max_flows), max_memory_bytes(max_memory_bytes) {}

    const size_t max_flows;
    const size_t max_memory_bytes;  // 0: no bound
    std::atomic<size_t> flows{0};
    std::atomic<int64_t> memory_bytes{0};

    static constexpr int64_t kMemoryStep = 64 << 10;
};

}  // namespace pw::pipeline
