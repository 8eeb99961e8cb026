#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "agent/agent_config.h"
#include "agent/capture_worker.h"
#include "agent/connection_starts.h"
#include "agent/store_writer.h"
#include "capture/live_capture.h"
#include "events/json_sink.h"
#include "host/local_addresses.h"
#include "policy/recording_filter.h"
#include "process/attributor.h"

namespace pw::agent {

// The live endpoint agent. It captures on the configured interfaces with one or more capture
// workers, runs the frames through the same pipeline and store as `analyze`, and attributes
// connections to processes. It keeps the state that the control socket's `status` and
// `netstat` commands return. The kernel spreads each interface's packets over the workers
// (capture::LiveCapture), and the agent's own thread opens interfaces and assembles the state.
class Agent {
  public:
    // Opens the capture, the local address list and the store. Throws std::invalid_argument
    // for an invalid filter and std::system_error when netlink cannot be opened.
    explicit Agent(AgentConfig config);
    ~Agent();

    // Captures until `should_stop` returns true, which it is asked every 200 ms, then ends
    // every flow and flushes the sinks. Returns the exit status: 0, or 3 when events could
    // not be stored.
    int run(const std::function<bool()>& should_stop);

    // Changes what reaches the store when the agent runs with a policy; otherwise ignored.
    // Thread-safe.
    void set_recording_rules(policy::RecordingRules rules);
    // Captures on `interfaces` (empty: every interface) with `filter` and rings of
    // `buffer_size` bytes from now on, as a policy change asks. Thread-safe. Throws
    // std::invalid_argument for a filter that does not compile.
    void set_capture(std::vector<std::string> interfaces, std::string filter, int buffer_size);

    // The `status` reply: capture counters per interface and worker, flows, events, CPU use
    // and uptime. Thread-safe: it returns the snapshot taken last, at most a second old.
    nlohmann::json status() const;
    // Passes each row of the `netstat` reply to `row`: the open connections with process,
    // protocols and bytes, as each capture thread lists them when asked. Returns the number
    // of rows. Thread-safe.
    size_t for_each_connection(const std::function<void(const nlohmann::json&)>& row) const;

  private:
    void hand_out(std::vector<std::vector<capture::WorkerHandle>> opened);
    void take_snapshot();

    AgentConfig config_;
    std::chrono::steady_clock::time_point started_;
    int64_t started_ms_ = 0;
    std::unique_ptr<capture::LiveCapture> capture_;
    std::unique_ptr<host::LocalAddresses> local_addresses_;
    std::unique_ptr<process::ProcessAttributor> attributor_;
    std::unique_ptr<ConnectionStarts> connection_starts_;  // with attributor_, when it opened
    std::unique_ptr<StoreWriter> store_;
    std::unique_ptr<policy::RecordingFilter> recording_;  // in front of store_, with a policy
    std::unique_ptr<events::JsonLinesSink> json_;
    std::unique_ptr<events::EventSink> json_serialized_;  // json_, one writer at a time
    std::unique_ptr<pipeline::SharedBounds> bounds_;      // of the workers, with more than one
    std::vector<std::unique_ptr<CaptureWorker>> workers_;
    uint64_t drop_intervals_ = 0;  // snapshots in which a drop counter grew
    uint64_t drops_seen_ = 0;

    mutable std::mutex snapshot_mutex_;
    nlohmann::json status_;
};

}  // namespace pw::agent
