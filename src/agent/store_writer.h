#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "events/event.h"
#include "store/event_store.h"
#include "store/store_sink.h"

namespace pw::agent {

struct StoreWriterSettings {
    store::StoreSettings store;
    // Events kept in memory while the store cannot be written; later events are lost.
    size_t max_held = 100'000;
    // How long to wait before trying a store again that failed.
    std::chrono::milliseconds retry_interval{1000};
    // How long close() keeps trying a store that fails before it counts the held events lost.
    std::chrono::milliseconds close_timeout{15'000};
};

// The writer's counters: those of a store sink, plus the events that wait.
struct StoreWriterStats {
    store::StoreStats store;
    uint64_t held = 0;  // written and not yet committed
    bool failing = false;
};

// The live agent's event store writer. It records events from a thread of its own, so that
// a slow or locked store never holds up capture. While the store cannot be opened or written
// (another process has it locked, the disk is full), up to `max_held` events wait in memory
// and are written once it recovers. Each failure is logged with its cause and the count of
// waiting events. Thread-safe.
class StoreWriter : public events::EventSink {
  public:
    // Starts the writer thread, which opens the store.
    explicit StoreWriter(StoreWriterSettings settings);
    ~StoreWriter() override;  // close()
    StoreWriter(const StoreWriter&) = delete;
    StoreWriter& operator=(const StoreWriter&) = delete;

    // Queues the event; counts it lost when max_held events already wait (but see
    // wait_when_full()).
    void write(const events::Event& event) override;
    // From now on write() waits for room rather than count an event lost, while the store
    // accepts writes and for up to close_timeout in all. For the stop, when the capture has
    // ended and every open connection's last events come at once.
    void wait_when_full();
    // Waits until every event written so far is committed, unless the store is failing, in
    // which case the events stay held and it returns at once.
    void flush() override;
    // Commits every held event, trying for up to close_timeout while the store fails, then
    // stops the thread. Events still held then are counted lost.
    void close();

    StoreWriterStats stats() const;
    const std::string& path() const { return settings_.store.path; }

  private:
    void run();
    bool ensure_open_locked(std::unique_lock<std::mutex>& lock);
    bool write_batch(std::unique_lock<std::mutex>& lock);
    void record_failure_locked(const std::string& error, bool locked);

    StoreWriterSettings settings_;
    std::unique_ptr<store::EventStore> store_;  // used by the writer thread only

    mutable std::mutex mutex_;
    std::condition_variable wake_;     // the writer thread waits on it
    std::condition_variable written_;  // flush() waits on it
    std::deque<events::Event> queue_;
    uint64_t in_batch_ = 0;      // events taken from the queue and not yet committed
    uint64_t flush_target_ = 0;  // commit up to this write count at once
    std::chrono::steady_clock::time_point oldest_waiting_{};
    std::chrono::steady_clock::time_point next_try_{};
    std::chrono::steady_clock::time_point last_failure_log_{};
    std::string last_error_;
    bool failing_ = false;
    bool closing_ = false;
    bool wait_when_full_ = false;  // see wait_when_full()
    std::chrono::steady_clock::time_point wait_deadline_{};
    bool stopped_ = false;          // the writer thread ended
    uint64_t lost_while_full_ = 0;  // lost since the last log of it
    StoreWriterStats stats_;
    std::thread thread_;
};

}  // namespace pw::agent
