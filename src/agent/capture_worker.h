#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "agent/agent_state.h"
#include "capture/live_capture.h"
#include "events/event.h"
#include "pipeline/pipeline.h"
#include "process/attributor.h"
#include "process/queued_attributing_sink.h"

namespace pw::agent {

// A worker's report at its last tick, for `status`.
struct WorkerSnapshot {
    WorkerStatus status;
};

// One capture thread of the live agent. It reads its own member of every interface's fanout
// group (capture::LiveCapture) and runs the frames through a Pipeline of its own, straight
// from the capture ring. Once a second it reads its handles' drop counters, ends idle flows
// and publishes a snapshot. It lists its open connections only on request (for_each_connection()),
// because listing tens of thousands of them each second would cost the capture thread more
// than the packets do on a quiet server.
class CaptureWorker {
  public:
    // `outputs` must accept events from several threads at once. Attribution is skipped when
    // `attributor` is null.
    // With `bounds`, which must outlive the worker, the pipeline's flows and memory count
    // against the bounds that every worker shares.
    CaptureWorker(unsigned index, pipeline::Settings settings,
                  std::vector<events::EventSink*> outputs, process::ProcessAttributor* attributor,
                  capture::LiveCapture& capture, pipeline::SharedBounds* bounds = nullptr);
    ~CaptureWorker();  // stop()
    CaptureWorker(const CaptureWorker&) = delete;
    CaptureWorker& operator=(const CaptureWorker&) = delete;

    void start();
    // Hands over handles that LiveCapture opened for this worker. Thread-safe.
    void add_handles(std::vector<capture::WorkerHandle> handles);
    // Ends the thread: it closes its handles, ends every flow and flushes the sinks.
    void stop();

    WorkerSnapshot snapshot() const;
    // Passes each of the worker's open connections to `row`, as connections_json() writes
    // one, listed by its thread now. Passes the last listing instead when the thread is not
    // running, has not listed them by `deadline`, or listed them too recently
    // (kListingSpacing). The rows are built a few at a time, so that a slow `row` (a client
    // that reads slowly) holds up neither the capture nor the attribution thread.
    // Thread-safe.
    void for_each_connection(std::chrono::steady_clock::time_point deadline,
                             const std::function<void(const nlohmann::json&)>& row);
    unsigned index() const { return index_; }

    // After a listing, the thread lists again only once this many times the listing's own
    // duration has passed, so that listing takes at most about a tenth of its time.
    static constexpr int kListingSpacing = 9;

  private:
    void run();
    void adopt_new_handles();
    void read_ready(const std::vector<size_t>& ready, const std::vector<short>& events);
    void drop_handle(size_t position, const std::string& error);
    void tick();
    void take_snapshot();
    // Lists the connections when for_each_connection() requested a listing.
    void list_requested_connections();
    void process_frame(const capture::Frame& frame);

    unsigned index_;
    capture::LiveCapture& capture_;
    std::unique_ptr<process::QueuedAttributingSink> attributing_;
    std::unique_ptr<pipeline::Pipeline> pipeline_;
    std::vector<capture::WorkerHandle> handles_;  // read by the worker's thread only
    uint64_t unsupported_frames_ = 0;
    uint64_t pipeline_errors_ = 0;
    std::chrono::steady_clock::time_point last_error_log_{};
    std::chrono::steady_clock::time_point next_tick_{};

    int wake_fd_ = -1;  // an eventfd that add_handles(), stop() and listing requests signal
    // Guards incoming_, stopping_, snapshot_ and the connection listing's members.
    mutable std::mutex mutex_;
    std::vector<capture::WorkerHandle> incoming_;
    bool stopping_ = false;
    WorkerSnapshot snapshot_;
    bool running_ = false;                // the thread reads packets and lists connections
    bool connections_requested_ = false;  // a request waits for a listing
    uint64_t connections_listed_ = 0;     // listings made so far
    // The last listing, shared with the requests that still write it out.
    std::shared_ptr<const std::vector<pipeline::OpenFlow>> listed_flows_ =
        std::make_shared<const std::vector<pipeline::OpenFlow>>();
    int64_t listed_at_us_ = 0;  // its wall clock time
    // Before this time, requests get the last listing without a new one.
    std::chrono::steady_clock::time_point next_listing_{};
    std::condition_variable connections_ready_;
    std::thread thread_;
};

}  // namespace pw::agent
