#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "agent/agent_config.h"
#include "capture/live_capture.h"
#include "events/json_sink.h"
#include "host/local_addresses.h"
#include "pipeline/pipeline.h"
#include "pipeline/sharded_pipeline.h"
#include "policy/recording_filter.h"
#include "process/attributing_sink.h"
#include "store/store_sink.h"

namespace pw::agent {

// The live endpoint agent: captures on the configured interfaces, runs the frames through
// the same pipeline and store as `analyze`, attributes connections to processes and keeps
// the state that the control socket's `status` and `netstat` commands return.
class Agent {
public:
    // Opens the store, the local address list and the capture. Throws std::invalid_argument
    // for an invalid filter and std::system_error when netlink cannot be opened.
    explicit Agent(AgentConfig config);
    ~Agent();

    // Captures until `should_stop` returns true, which it is asked after every poll of the
    // interfaces (at least every 200 ms), then ends every flow and flushes the sinks.
    // Returns the exit status: 0, or 3 when events could not be stored.
    int run(const std::function<bool()>& should_stop);

    // Changes what reaches the store when the agent runs with a policy; otherwise ignored.
    // Thread-safe.
    void set_recording_rules(policy::RecordingRules rules);

    // The `status` reply: capture counters per interface, flows, events, CPU use and uptime.
    // Thread-safe: it returns the snapshot the capture thread took last.
    nlohmann::json status() const;
    // The `netstat` reply: the open connections with process, protocols and bytes.
    nlohmann::json connections() const;

private:
    void take_snapshot(int64_t now_us);

    AgentConfig config_;
    std::chrono::steady_clock::time_point started_;
    int64_t started_ms_ = 0;
    std::unique_ptr<host::LocalAddresses> local_addresses_;
    std::unique_ptr<process::ProcessAttributor> attributor_;
    std::unique_ptr<store::StoreSink> store_;
    std::unique_ptr<policy::RecordingFilter> recording_;  // in front of store_, with a policy
    std::unique_ptr<events::JsonLinesSink> json_;
    std::unique_ptr<process::AttributingSink> attributing_;
    std::unique_ptr<pipeline::ShardedPipeline> pipeline_;
    std::unique_ptr<capture::LiveCapture> capture_;
    uint64_t unsupported_frames_ = 0;
    uint64_t drop_intervals_ = 0;  // snapshots in which the capture had new drops

    mutable std::mutex snapshot_mutex_;
    nlohmann::json status_;
    nlohmann::json connections_;
};

}  // namespace pw::agent
