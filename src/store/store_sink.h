#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "events/event.h"
#include "store/event_store.h"

namespace pw::store {

struct StoreSettings {
    std::string path;
    RetentionPolicy retention;
    // A transaction commits after this many events or this long after its first event,
    // whichever comes first; flush() commits at once.
    uint64_t batch_size = 1000;
    std::chrono::milliseconds commit_interval{1000};
    // Milliseconds since the epoch for stored_at and retention; the system clock when empty.
    EventStore::Clock clock;
};

struct StoreStats {
    uint64_t written = 0;    // events passed to write()
    uint64_t committed = 0;  // events whose transaction committed
    uint64_t lost = 0;       // events that could not be stored
    uint64_t removed_by_age = 0;
    uint64_t removed_by_size = 0;
};

// The event sink that records events in the store. It never throws from write() or
// flush(): a store that cannot be opened or written is logged with its path and what to do,
// and every event it could not keep is counted in stats().lost.
class StoreSink : public events::EventSink {
  public:
    explicit StoreSink(StoreSettings settings);
    ~StoreSink() override;
    StoreSink(const StoreSink&) = delete;
    StoreSink& operator=(const StoreSink&) = delete;

    void write(const events::Event& event) override;
    // Commits every event written so far; once it returns they survive a kill of the process.
    void flush() override;

    StoreStats stats() const;
    bool is_open() const;
    const std::string& path() const { return settings_.path; }

  private:
    void commit_locked();
    void enforce_retention_locked();
    void record_failure_locked(const std::exception& error, uint64_t lost);
    void run_timer();

    StoreSettings settings_;
    std::unique_ptr<EventStore> store_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point batch_started_;
    std::chrono::steady_clock::time_point last_failure_log_;
    // Until then the store is taken as still locked by another connection.
    std::chrono::steady_clock::time_point locked_until_{};
    StoreStats stats_;
    std::thread timer_;
};

}  // namespace pw::store
