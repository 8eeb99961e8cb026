#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace pw::pipeline {

// The flow table and memory bounds (--max-flows, --max-memory) of pipelines that run on
// several threads, held by all of them together. Each pipeline adds what it holds, and
// one that finds the total over a bound ends flows or drops held data, as one pipeline
// would. How the traffic is shared out among the pipelines then does not change how much
// they may hold.
//
// A pipeline adds a flow at once. At max_flows, the pipeline whose oldest flow has been
// idle the longest ends it, as for the memory bound below. A pipeline whose own oldest flow
// is younger than another's starts its new flow over the bound and leaves the ending to the
// other, unless the flows are kFlowSlack per pipeline over the bound. A pipeline with no
// flow of its own may always start one. It adds its memory only once the
// amount changed by kMemoryStep since it last did, so that the counter stays in every
// thread's cache. The total may then be off by up to kMemoryStep per pipeline.
//
// Over the memory bound, the pipeline whose oldest flow has been idle the longest, each by
// its own input time, ends that flow, as one pipeline ends its oldest. Each pipeline
// publishes how long its oldest flow has been idle (oldest_idle_us) after each frame. One
// whose oldest flow is younger than another's leaves the ending to that other. It ends its
// own once the total is more than kWaitSlack per pipeline over the bound, because a
// pipeline that gets no frames for a while ends no flows, and the published totals lag by
// up to kMemoryStep per pipeline. A pipeline only ends its own flows and drops its own data.
// NOTE: the pipelines read their frames at their own pace, so what they hold together at a
// moment is not what one pipeline would hold at one point of the input. A worker may lag
// the reading thread by its queue, a second of input or more, while new address pairs go
// to the reading thread. Both then hold the flows of a full second of new pairs, at two
// places of the input. Under a bound that one pipeline only just meets, more flows may end
// early than with one pipeline. A test capture of 40,000 two-packet flows, whose second
// packet came 0.3 s after the first: under 16 MB one thread ended 33,651 early and two
// threads 53,311. Under 24 MB and more, both ended the same number. At the end of the input, one
// pipeline may have ended its flows while another still starts the flows of earlier frames, which
// ends fewer flows early.
struct SharedBounds {
    SharedBounds(size_t max_flows, size_t max_memory_bytes, size_t pipelines)
        : max_flows(max_flows),
          max_memory_bytes(max_memory_bytes),
          pipelines(pipelines),
          oldest_idle_us(std::make_unique<IdleTime[]>(pipelines)) {}

    const size_t max_flows;
    const size_t max_memory_bytes;  // 0: no bound
    const size_t pipelines;
    std::atomic<size_t> flows{0};
    std::atomic<int64_t> memory_bytes{0};

    // The idle time of one pipeline's oldest flow, or -1 when it has none. Each is on a cache
    // line of its own, because its pipeline writes it after every frame.
    struct alignas(64) IdleTime {
        std::atomic<int64_t> us{-1};
    };
    std::unique_ptr<IdleTime[]> oldest_idle_us;

    // Returns the maximum idle time that a pipeline other than `self` published, or -1.
    int64_t max_idle_elsewhere(size_t self) const {
        int64_t maximum = -1;
        for (size_t i = 0; i < pipelines; ++i) {
            if (i != self)
                maximum = std::max(maximum, oldest_idle_us[i].us.load(std::memory_order_relaxed));
        }
        return maximum;
    }

    // Returns whether the flows are within kFlowSlack per pipeline of max_flows, where the
    // pipelines publish their oldest idle times.
    bool flows_near_bound() const {
        const size_t slack = pipelines * kFlowSlack;
        return flows.load(std::memory_order_relaxed) >= max_flows - std::min(max_flows, slack);
    }

    static constexpr int64_t kMemoryStep = 64 << 10;
    static constexpr size_t kFlowSlack = 16;
    static constexpr int64_t kWaitSlack = 2 * kMemoryStep;
};

}  // namespace pw::pipeline
