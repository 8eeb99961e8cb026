#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events/event.h"
#include "process/attributing_sink.h"

namespace pw::process {

// An AttributingSink that runs on a thread of its own. The capture thread only queues the
// events, so that the lookups, which read /proc and query the kernel's sockets, never hold
// back the reading of packets: a burst of short connections would otherwise fill the
// capture ring while they run. Events keep their order. When kMaxQueued events wait,
// write() waits for room, so that none is lost.
class QueuedAttributingSink : public events::EventSink {
  public:
    using ProcessLookup = std::function<const events::Process*(const std::string&)>;

    QueuedAttributingSink(ProcessAttributor& attributor, std::vector<events::EventSink*> next);
    // Passes on the events still queued before it returns.
    ~QueuedAttributingSink() override;
    QueuedAttributingSink(const QueuedAttributingSink&) = delete;
    QueuedAttributingSink& operator=(const QueuedAttributingSink&) = delete;

    void write(const events::Event& event) override;
    // Waits until every event queued so far has been passed on, then flushes the next sinks.
    void flush() override;

    // Calls `use` with a lookup of the processes of open connections, by connection_uid,
    // while no event passes.
    void with_processes(const std::function<void(const ProcessLookup&)>& use);

    static constexpr size_t kMaxQueued = 100'000;

  private:
    void run();

    AttributingSink sink_;
    // Held while sink_ passes an event on, and by with_processes().
    std::mutex sink_mutex_;
    std::mutex queue_mutex_;
    std::condition_variable work_;     // events queued, or stopping
    std::condition_variable room_;     // the queue has room again
    std::condition_variable drained_;  // the queue is empty and no event is passing
    std::deque<events::Event> queue_;
    bool passing_ = false;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace pw::process
