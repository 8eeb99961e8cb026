#include "fleet/publisher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "fleet/subjects.h"
#include "query/literals.h"
#include "store/event_output.h"

namespace pw::fleet {
namespace {

// Waits between rounds after a failure: from the first to the last, doubling.
constexpr std::chrono::milliseconds kFirstBackoff{250};
constexpr std::chrono::milliseconds kMaxBackoff{5000};
// A failure that repeats is logged again at most this often, with the count.
constexpr std::chrono::seconds kFailureLogInterval{30};
constexpr int64_t kNanosecondsPerMs = 1'000'000;

}  // namespace

Publisher::Publisher(const NatsSettings& nats, PublisherOptions options)
    : nats_(nats),
      options_(std::move(options)),
      cursor_(store::PublishCursor::open(options_.store_path, nats.stream)),
      reader_(store::StoreReader::open(options_.store_path)) {
    validate(nats_);
    cursor_sequence_ = cursor_.load();
    connection_ = std::make_unique<NatsConnection>(nats_, ConnectMode::kRetryInBackground,
                                                   "protowatch publisher " + options_.device,
                                                   agent_inbox_prefix(nats_.subject_prefix));
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.PublishAsync.MaxPending = static_cast<int64_t>(options_.max_pending);
    js_options.PublishAsync.AckHandler = &Publisher::on_ack;
    js_options.PublishAsync.AckHandlerClosure = this;
    check_nats(natsConnection_JetStream(&jetstream_, connection_->handle(), &js_options),
               "failed to create the JetStream context");
    spdlog::info("publishing events of {} to stream {} from sequence {}", options_.store_path,
                 nats_.stream, cursor_sequence_);
}

Publisher::~Publisher() {
    stop();
    jsCtx_Destroy(jetstream_);
}

void Publisher::start() {
    std::lock_guard lock(thread_mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void Publisher::stop() {
    {
        std::lock_guard lock(thread_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Publisher::run() {
    std::chrono::milliseconds backoff = kFirstBackoff;
    std::unique_lock lock(thread_mutex_);
    while (!stopping_) {
        lock.unlock();
        Round round = publish_round();
        lock.lock();
        if (round == Round::kProgress) {
            backoff = kFirstBackoff;
            continue;
        }
        std::chrono::milliseconds wait = options_.poll_interval;
        if (round == Round::kFailed) {
            wait = backoff;
            backoff = std::min(backoff * 2, kMaxBackoff);
        }
        wake_.wait_for(lock, wait, [this] { return stopping_; });
    }
}

uint64_t Publisher::publish_until_caught_up(std::chrono::milliseconds timeout,
                                            const volatile std::sig_atomic_t* stop) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int64_t target = reader_.last_sequence();
    std::chrono::milliseconds backoff = kFirstBackoff;
    while (cursor_sequence_ < target && std::chrono::steady_clock::now() < deadline &&
           (stop == nullptr || *stop == 0)) {
        Round round = publish_round();
        if (round == Round::kProgress) {
            backoff = kFirstBackoff;
            continue;
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        std::this_thread::sleep_for(std::min(backoff, left));
        if (round == Round::kFailed) backoff = std::min(backoff * 2, kMaxBackoff);
    }
    return unpublished();
}

uint64_t Publisher::unpublished() {
    store::Statement count = reader_.database().prepare("SELECT count(*) FROM events WHERE id > ?");
    count.bind(1, cursor_sequence_);
    count.step();
    return static_cast<uint64_t>(count.column_int(0));
}

bool Publisher::ensure_stream() {
    if (stream_ready_) return true;
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    natsStatus status = js_GetStreamInfo(&info, jetstream_, nats_.stream.c_str(), nullptr, &code);
    if (status == NATS_NOT_FOUND) {
        std::string subjects = event_subjects_wildcard(nats_.subject_prefix);
        const char* subject_list[] = {subjects.c_str()};
        jsStreamConfig config;
        jsStreamConfig_Init(&config);
        config.Name = nats_.stream.c_str();
        config.Subjects = subject_list;
        config.SubjectsLen = 1;
        config.Retention = js_LimitsPolicy;
        config.Storage = js_FileStorage;
        config.Replicas = nats_.replicas;
        config.MaxAge = nats_.max_age.count() * kNanosecondsPerMs;
        config.Duplicates = nats_.duplicate_window.count() * kNanosecondsPerMs;
        status = js_AddStream(&info, jetstream_, &config, nullptr, &code);
        if (status == NATS_OK) {
            spdlog::info("created stream {} for subjects {} with {} replicas", nats_.stream,
                         subjects, nats_.replicas);
        }
    }
    jsStreamInfo_Destroy(info);
    if (status != NATS_OK) {
        record_failure(fmt::format("cannot look up or create stream {}: {}", nats_.stream,
                                   last_error_text(status)));
        return false;
    }
    stream_ready_ = true;
    return true;
}

Publisher::Round Publisher::publish_round() {
    if (!connection_->is_connected()) {
        // The connection reconnects in the background, and the events wait in the store.
        record_failure("not connected to NATS (reconnecting)");
        return Round::kFailed;
    }
    if (!ensure_stream()) return Round::kFailed;

    {
        std::lock_guard lock(round_mutex_);
        in_flight_.clear();
        round_acknowledged_.clear();
        round_failures_ = 0;
        round_error_.clear();
    }
    // 1. Publish up to max_pending events after the cursor, skipping those already
    //    acknowledged in an earlier round.
    std::vector<int64_t> sequences;
    std::vector<store::StoredEvent> batch;
    {
        // The round's events are read first, in a scope of their own, and published after:
        // the read transaction then lasts only as long as the reads. A reader that is always
        // in a transaction keeps a writer's checkpoints from starting the -wal file over,
        // and the file grows for as long as the publisher is behind.
        store::EventCursor rows = reader_.select_after(
            cursor_sequence_, options_.max_pending + acknowledged_ahead_.size());
        store::StoredEvent stored;
        while (sequences.size() < options_.max_pending && rows.next(stored)) {
            sequences.push_back(stored.sequence);
            if (acknowledged_ahead_.count(stored.sequence) == 0) batch.push_back(std::move(stored));
        }
    }
    if (sequences.empty()) return Round::kIdle;
    for (const store::StoredEvent& event : batch) {
        if (!publish_event(event)) break;
    }

    // 2. Wait for every acknowledgment or failure of the round, then 3. move the cursor over
    //    the acknowledged prefix.
    wait_for_acks();
    advance_cursor(sequences);

    std::lock_guard lock(round_mutex_);
    if (round_failures_ > 0 || !round_error_.empty()) {
        // The stream may have been deleted, or JetStream lost its leader: look it up again.
        stream_ready_ = false;
        record_failure(round_error_);
        return Round::kFailed;
    }
    if (failing_) {
        spdlog::info("publishing to stream {} resumed at sequence {}", nats_.stream,
                     cursor_sequence_);
        failing_ = false;
    }
    return Round::kProgress;
}

bool Publisher::publish_event(const store::StoredEvent& stored) {
    const std::string& device = stored.event.device.empty() ? options_.device : stored.event.device;
    std::string subject = event_subject(nats_.subject_prefix, device, stored.event.activity);
    std::string payload = store::stored_event_json(stored);
    const int64_t max_payload = natsConnection_GetMaxPayload(connection_->handle());
    if (max_payload > 0 && payload.size() > static_cast<uint64_t>(max_payload)) {
        // The server refuses it every time, and waiting for it would hold up every later
        // event. It stays in the store, and the cursor passes it as if acknowledged.
        spdlog::error("event {} ({} bytes) is larger than the {} bytes a NATS message may hold "
                      "on this server; it stays in the store and is not published",
                      stored.event_uid, payload.size(), max_payload);
        std::lock_guard lock(round_mutex_);
        round_acknowledged_.push_back(stored.sequence);
        return true;
    }
    natsMsg* message = nullptr;
    natsStatus status = natsMsg_Create(&message, subject.c_str(), nullptr, payload.data(),
                                       static_cast<int>(payload.size()));
    if (status == NATS_OK) {
        status = natsMsgHeader_Set(message, "Nats-Msg-Id", stored.event_uid.c_str());
    }
    if (status == NATS_OK) {
        std::lock_guard lock(round_mutex_);
        in_flight_[stored.event_uid] = stored.sequence;
    }
    jsPubOptions options;
    jsPubOptions_Init(&options);
    options.MaxWait = options_.ack_timeout.count();
    if (status == NATS_OK) status = js_PublishMsgAsync(jetstream_, &message, &options);
    natsMsg_Destroy(message);  // no-op once the library has taken the message
    if (status == NATS_OK) return true;

    std::lock_guard lock(round_mutex_);
    in_flight_.erase(stored.event_uid);
    round_error_ =
        fmt::format("failed to publish event {}: {}", stored.event_uid, natsStatus_GetText(status));
    return false;
}

void Publisher::wait_for_acks() {
    jsPubOptions options;
    jsPubOptions_Init(&options);
    // Each message times out after ack_timeout by itself; this bound only guards the wait.
    options.MaxWait = options_.ack_timeout.count() * 2;
    if (js_PublishAsyncComplete(jetstream_, &options) == NATS_OK) return;
    std::lock_guard lock(round_mutex_);
    round_failures_ += in_flight_.size();
    if (round_error_.empty()) {
        round_error_ =
            fmt::format("{} publications were not acknowledged in time", in_flight_.size());
    }
    // Acknowledgments that still arrive belong to no round and are ignored; the events are
    // published again and JetStream drops the copies by their message ids.
    in_flight_.clear();
}

void Publisher::advance_cursor(const std::vector<int64_t>& sequences) {
    {
        std::lock_guard lock(round_mutex_);
        acknowledged_ahead_.insert(round_acknowledged_.begin(), round_acknowledged_.end());
        acknowledged_count_ += round_acknowledged_.size();
    }
    int64_t next = cursor_sequence_;
    for (int64_t sequence : sequences) {
        if (acknowledged_ahead_.count(sequence) == 0) break;
        next = sequence;
    }
    acknowledged_ahead_.erase(acknowledged_ahead_.begin(), acknowledged_ahead_.upper_bound(next));
    if (next == cursor_sequence_) return;
    try {
        cursor_.save(next, query::now_ms());
    } catch (const store::SqliteError& error) {
        // The events stay after the stored cursor and are published again after a restart.
        spdlog::error("event store {}: failed to save the publish cursor {}: {}",
                      options_.store_path, next, error.what());
    }
    cursor_sequence_ = next;
}

void Publisher::record_failure(const std::string& error) {
    last_error_ = error;
    auto now = std::chrono::steady_clock::now();
    ++failures_since_log_;
    if (failing_ && now - last_failure_log_ < kFailureLogInterval) return;
    spdlog::warn(
        "publishing to stream {} failed ({} times since the last message), {} events "
        "wait in the store: {}",
        nats_.stream, failures_since_log_, unpublished(), error);
    failing_ = true;
    failures_since_log_ = 0;
    last_failure_log_ = now;
}

void Publisher::on_ack(jsCtx*, natsMsg* message, jsPubAck* ack, jsPubAckErr* error, void* self) {
    auto* publisher = static_cast<Publisher*>(self);
    const char* uid = nullptr;
    if (natsMsgHeader_Get(message, "Nats-Msg-Id", &uid) == NATS_OK && uid != nullptr) {
        std::lock_guard lock(publisher->round_mutex_);
        auto found = publisher->in_flight_.find(uid);
        if (found != publisher->in_flight_.end()) {
            if (ack != nullptr) {
                publisher->round_acknowledged_.push_back(found->second);
            } else {
                ++publisher->round_failures_;
                if (error != nullptr && publisher->round_error_.empty()) {
                    publisher->round_error_ =
                        error->ErrText != nullptr ? error->ErrText : natsStatus_GetText(error->Err);
                }
            }
            publisher->in_flight_.erase(found);
        }
    }
    natsMsg_Destroy(message);
}

}  // namespace pw::fleet
