#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "capture/live_interface.h"

namespace pw::capture {

// Counters of one interface the agent captures on, summed over its handles.
struct InterfaceCounters {
    std::string name;
    bool open = false;
    std::string error;          // why it is not open, empty when it is
    uint64_t packets = 0;       // frames handed to the pipeline
    uint64_t kernel_drops = 0;  // summed over every handle and every time it was open
    uint64_t interface_drops = 0;
    uint64_t reopens = 0;  // times it was opened again after failing
};

// One worker's handle on one interface: its member of the interface's fanout group. Only the
// worker that owns it reads it, since libpcap handles are not thread-safe.
struct WorkerHandle {
    size_t slot = 0;          // the interface, as LiveCapture numbers them
    uint64_t generation = 0;  // which opening of the interface
    unsigned member = 0;      // the worker's index in the fanout group
    std::unique_ptr<LiveInterface> handle;
    uint64_t unreported_frames = 0;  // read since the last update_counters()
    LiveStats reported;              // pcap_stats at the last update_counters()
};

// The interfaces the agent captures on, each opened once per worker in one PACKET_FANOUT
// group, so that the kernel spreads the packets over the workers by address pair. An
// interface that is missing or fails is logged, closed on every worker and opened again
// every `retry_interval`, so that one that appears later, or disappears and comes back, is
// followed without the agent exiting. Thread-safe: the agent's main thread opens the
// interfaces and hands the handles out, and each worker reports on its own handles.
class LiveCapture {
  public:
    // `names` empty captures on Linux's "any" pseudo-device, which covers every interface,
    // including those created later. Throws std::invalid_argument for a filter that does not
    // compile.
    LiveCapture(std::vector<std::string> names, LiveOptions options, unsigned workers,
                std::chrono::milliseconds retry_interval = std::chrono::seconds(2));
    ~LiveCapture();

    // Opens the interfaces that are closed, due for a try and no longer held by any worker.
    // Returns the new handles by worker: result[w] goes to worker w. Failures are logged and
    // retried. A filter that does not compile for an interface's link type throws
    // std::invalid_argument at the first try, and is retried like a failure after that.
    std::vector<std::vector<WorkerHandle>> open_due();

    // Captures on `names` with `options` from now on, as a policy reload asks: interfaces no
    // longer listed close, new ones open, and with other options every interface opens
    // again. Throws std::invalid_argument for a filter that does not compile.
    void reconfigure(std::vector<std::string> names, LiveOptions options);
    LiveOptions options() const;

    // False once the handle's interface was closed after a failure or a reconfiguration:
    // the worker then releases it.
    bool is_current(const WorkerHandle& handle) const;
    // Closes the handle's interface on every worker after reading it failed, and logs why.
    void report_failure(const WorkerHandle& handle, const std::string& error);
    // Counts the handle's last frames and drops and closes it.
    void release(WorkerHandle& handle);

    // Adds the frames read and the growth of the handle's drop counters (pcap_stats) to its
    // interface, and logs drops. Returns true when packets of the handle's own flows were
    // lost: its kernel drops grew, or its interface dropped packets since the handle's last
    // call. Call it from the worker that owns the handle.
    bool update_counters(WorkerHandle& handle);

    std::vector<InterfaceCounters> counters() const;
    unsigned workers() const { return workers_; }

  private:
    struct Slot {
        InterfaceCounters counters;
        uint64_t generation = 0;
        unsigned handles_held = 0;  // handles of any generation not yet released
        bool attempted = false;
        bool ever_opened = false;
        bool retired = false;  // no longer in the interface list; kept for its handles' ids
        std::chrono::steady_clock::time_point next_attempt{};
        // Interface drops are read from member 0 only, since every handle of an interface
        // reports the same interface counter. Each member compares this count with the one
        // it saw last.
        uint64_t interface_drop_events = 0;
        std::vector<uint64_t> seen_drop_events;  // per member
    };
    void close_locked(Slot& slot, const std::string& error);

    LiveOptions options_;
    uint64_t options_version_ = 0;  // counts reconfigurations, so that an open can tell
    unsigned workers_;
    std::chrono::milliseconds retry_interval_;
    mutable std::mutex mutex_;
    std::deque<Slot> slots_;  // a deque, so that a new slot leaves the others in place
};

}  // namespace pw::capture
