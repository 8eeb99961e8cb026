#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "fleet/nats_connection.h"
#include "fleet/nats_settings.h"
#include "store/publish_cursor.h"
#include "store/store_reader.h"

namespace pw::fleet {

struct PublisherOptions {
    std::string store_path;
    // The device of events recorded without one, for their subject.
    std::string device;
    // Messages published and not yet acknowledged at most; one round publishes this many.
    size_t max_pending = 1024;
    // How long JetStream has to acknowledge a message before it counts as failed and is
    // published again in a later round.
    std::chrono::milliseconds ack_timeout{5000};
    // How often the background thread looks for newly stored events.
    std::chrono::milliseconds poll_interval{200};
};

// Publishes the store's events to JetStream, in store order, from the outbox cursor on. The
// store is the outbox: an event counts as published only once JetStream acknowledged it and
// every event stored before it, and only then does the cursor in the store move past it.
// After an outage or a restart the publisher starts again at the cursor. Each message carries
// the event's event_uid as Nats-Msg-Id, so that JetStream drops what it already stored.
class Publisher {
  public:
    // Opens the store (migrating it to the current schema) and starts connecting. Throws
    // StoreError for an unusable store and std::invalid_argument for invalid settings.
    Publisher(const NatsSettings& nats, PublisherOptions options);
    ~Publisher();
    Publisher(const Publisher&) = delete;
    Publisher& operator=(const Publisher&) = delete;

    // Publishes in a background thread until stop().
    void start();
    void stop();

    // Publishes in the calling thread until every event stored before the call is
    // acknowledged, `timeout` passes or `*stop` becomes nonzero (a signal handler's flag);
    // returns how many stored events remain unpublished. Do not call it while the background
    // thread runs.
    uint64_t publish_until_caught_up(std::chrono::milliseconds timeout,
                                     const volatile std::sig_atomic_t* stop = nullptr);

    // Events acknowledged by JetStream since the publisher started.
    uint64_t acknowledged() const { return acknowledged_count_; }
    // The cause of the latest failed round (not connected, a stream that cannot be made, a
    // refused publication), empty when no round failed.
    const std::string& last_error() const { return last_error_; }
    // Stored events after the cursor.
    uint64_t unpublished();

  private:
    enum class Round { kIdle, kProgress, kFailed };

    Round publish_round();
    bool ensure_stream();
    bool publish_event(const store::StoredEvent& stored);
    void wait_for_acks();
    void advance_cursor(const std::vector<int64_t>& sequences);
    void record_failure(const std::string& error);
    void run();
    static void on_ack(jsCtx* js, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* self);

    NatsSettings nats_;
    PublisherOptions options_;
    store::PublishCursor cursor_;
    store::StoreReader reader_;
    std::unique_ptr<NatsConnection> connection_;
    jsCtx* jetstream_ = nullptr;
    bool stream_ready_ = false;

    // The cursor, and events after it that were acknowledged while an earlier one failed:
    // a later round skips them instead of publishing them again.
    int64_t cursor_sequence_ = 0;
    std::set<int64_t> acknowledged_ahead_;

    // State of the round in progress, shared with the acknowledgment callback.
    std::mutex round_mutex_;
    std::unordered_map<std::string, int64_t> in_flight_;  // event_uid to sequence
    std::vector<int64_t> round_acknowledged_;
    uint64_t round_failures_ = 0;
    std::string round_error_;

    std::atomic<uint64_t> acknowledged_count_{0};
    std::chrono::steady_clock::time_point last_failure_log_;
    uint64_t failures_since_log_ = 0;
    bool failing_ = false;
    std::string last_error_;

    std::mutex thread_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace pw::fleet
