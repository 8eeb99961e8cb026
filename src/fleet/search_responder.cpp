#include "fleet/search_responder.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "events/json.h"
#include "fleet/subjects.h"
#include "query/compiler.h"
#include "query/literals.h"
#include "query/parser.h"
#include "store/event_output.h"
#include "store/schema.h"
#include "store/store_reader.h"

namespace pw::fleet {
namespace {

// Bounds on one chunk whatever the request sets, so that an agent never holds more than one
// bounded chunk in memory and never builds a message larger than the server accepts.
constexpr uint64_t kMaxChunkEvents = 10'000;
constexpr int64_t kMinChunkBytes = 64 * 1024;

// How long stop() lets the subscription's callbacks finish, and how often a search that
// waits for an acknowledgment checks whether the agent stops.
constexpr int64_t kDrainTimeoutMs = 5'000;
constexpr std::chrono::milliseconds kStopCheckInterval{100};

// Waits for the requester's acknowledgment of one chunk, freeing one place in the window.
// Returns false when none came within `timeout`, or once `stopping` is set.
bool wait_for_ack(natsSubscription* acks, std::chrono::milliseconds timeout,
                  const std::atomic<bool>& stopping) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!stopping) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        natsMsg* ack = nullptr;
        natsStatus status =
            natsSubscription_NextMsg(&ack, acks, std::min(left, kStopCheckInterval).count());
        natsMsg_Destroy(ack);
        if (status == NATS_OK) return true;
        if (status != NATS_TIMEOUT) return false;
    }
    return false;
}

}  // namespace

SearchResponder::SearchResponder(const NatsSettings& nats, SearchResponderOptions options)
    : nats_(nats), options_(std::move(options)) {
    validate(nats_);
    if (options_.device.empty()) throw std::invalid_argument("the agent's device name is empty");
}

SearchResponder::~SearchResponder() { stop(); }

void SearchResponder::start() {
    if (connection_) return;
    stopping_ = false;
    connection_ = std::make_unique<NatsConnection>(nats_, ConnectMode::kRetryInBackground,
                                                   "protowatch responder " + options_.device,
                                                   agent_inbox_prefix(nats_.subject_prefix));
    std::string subject = search_subject(nats_.subject_prefix);
    check_nats(natsConnection_Subscribe(&subscription_, connection_->handle(), subject.c_str(),
                                        &SearchResponder::on_request, this),
               fmt::format("failed to subscribe to {}", subject));
    presence_ = std::make_unique<Presence>(connection_->handle(), nats_);
    heartbeat_ = std::thread([this] { run_heartbeat(); });
    for (size_t i = 0; i < kSearchThreads; ++i) searchers_.emplace_back([this] { run_searches(); });
    spdlog::info("agent {} responds to searches on {} from {}", options_.device, subject,
                 options_.store_path);
}

void SearchResponder::stop() {
    if (!connection_) return;
    {
        std::lock_guard lock(heartbeat_mutex_);
        stopping_ = true;
    }
    heartbeat_wake_.notify_all();
    if (heartbeat_.joinable()) heartbeat_.join();
    // Draining waits for the callbacks of requests already received, which see stopping_
    // and reply with an error, so that none runs once the connection is gone. Without a
    // connection to the server a drain would wait for its whole timeout, since nats.c
    // keeps reconnecting, so unsubscribing stops the deliveries instead.
    if (connection_->is_connected() &&
        natsSubscription_DrainTimeout(subscription_, kDrainTimeoutMs) == NATS_OK) {
        natsSubscription_WaitForDrainCompletion(subscription_, kDrainTimeoutMs + 1'000);
    } else {
        natsSubscription_Unsubscribe(subscription_);
    }
    natsSubscription_Destroy(subscription_);
    subscription_ = nullptr;
    {
        // Taking the lock after stopping_ is set means that no search thread misses the
        // wake-up between its check and its wait.
        std::lock_guard lock(waiting_mutex_);
    }
    waiting_wake_.notify_all();
    for (std::thread& searcher : searchers_) searcher.join();
    searchers_.clear();
    if (connection_->is_connected()) presence_->withdraw(options_.device);
    presence_.reset();
    connection_.reset();
    spdlog::info("agent {} stopped responding to searches", options_.device);
}

void SearchResponder::run_heartbeat() {
    bool announced = false;
    std::unique_lock lock(heartbeat_mutex_);
    // A failed announcement (JetStream busy electing a leader, say) is tried again soon
    // rather than a whole heartbeat later, so that searches find the agent early.
    constexpr std::chrono::milliseconds kRetryInterval{2'000};
    while (!stopping_) {
        lock.unlock();
        bool present = connection_->is_connected() && presence_->announce(options_.device);
        if (present && !announced) {
            spdlog::info("agent {} announced its presence", options_.device);
            announced = true;
        }
        lock.lock();
        heartbeat_wake_.wait_for(
            lock, present ? options_.heartbeat_interval
                          : std::min(options_.heartbeat_interval, kRetryInterval),
            [this] { return stopping_.load(); });
    }
}

void SearchResponder::on_request(natsConnection*, natsSubscription*, natsMsg* message, void* self) {
    auto* responder = static_cast<SearchResponder*>(self);
    const char* reply = natsMsg_GetReply(message);
    if (reply == nullptr || reply[0] == '\0') {
        spdlog::warn("ignoring a search request without a reply subject");
        natsMsg_Destroy(message);
        return;
    }
    if (responder->stopping_) {
        responder->send_error(reply, "the agent is stopping");
        natsMsg_Destroy(message);
        return;
    }
    bool room = false;
    {
        std::lock_guard lock(responder->waiting_mutex_);
        room = responder->waiting_.size() < kMaxWaiting;
    }
    if (!room) {
        spdlog::warn("rejected a search request to {}: {} searches run and {} wait", reply,
                     kSearchThreads, kMaxWaiting);
        responder->send_error(
            reply, fmt::format("the agent is busy: {} searches run and {} more wait; try again "
                               "later",
                               kSearchThreads, kMaxWaiting));
        natsMsg_Destroy(message);
        return;
    }
    // Accepted before it is queued, so that no chunk can precede the acceptance.
    try {
        SearchReply accepted;
        accepted.device = responder->options_.device;
        responder->send(reply, accepted);
    } catch (const NatsError& error) {
        spdlog::warn("{}", error.what());
        natsMsg_Destroy(message);
        return;
    }
    {
        std::lock_guard lock(responder->waiting_mutex_);
        responder->waiting_.push_back(message);
    }
    responder->waiting_wake_.notify_one();
}

void SearchResponder::run_searches() {
    std::unique_lock lock(waiting_mutex_);
    while (true) {
        waiting_wake_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
        if (waiting_.empty()) return;
        natsMsg* message = waiting_.front();
        waiting_.pop_front();
        lock.unlock();
        if (stopping_) {
            send_error(natsMsg_GetReply(message), "the agent is stopping");
            natsMsg_Destroy(message);
        } else {
            answer_message(message);
        }
        lock.lock();
    }
}

void SearchResponder::answer_message(natsMsg* message) {
    const char* reply = natsMsg_GetReply(message);
    try {
        answer(reply, std::string_view(natsMsg_GetData(message),
                                       static_cast<size_t>(natsMsg_GetDataLength(message))));
    } catch (const std::exception& error) {
        spdlog::error("search request to {} failed: {}", reply, error.what());
        send_error(reply, error.what());
    }
    natsMsg_Destroy(message);
}

void SearchResponder::send(const char* subject, const SearchReply& reply, const char* ack_subject) {
    send_text(subject, encode_reply(reply), ack_subject);
}

void SearchResponder::send_text(const char* subject, const std::string& text,
                                const char* ack_subject) {
    natsConnection* connection = connection_->handle();
    int length = static_cast<int>(text.size());
    natsStatus status =
        ack_subject == nullptr
            ? natsConnection_Publish(connection, subject, text.data(), length)
            : natsConnection_PublishRequest(connection, subject, ack_subject, text.data(), length);
    check_nats(status, fmt::format("failed to send a search reply to {}", subject));
}

void SearchResponder::send_error(const char* subject, const std::string& error) {
    SearchReply reply;
    reply.type = ReplyType::kError;
    reply.device = options_.device;
    reply.notes.push_back(error);
    try {
        send(subject, reply);
    } catch (const NatsError& failure) {
        spdlog::warn("{}", failure.what());
    }
}

void SearchResponder::answer(const char* reply_subject, std::string_view request_text) {
    // 1. Check the request and compile its query, as `protowatch search` does.
    SearchRequest request;
    query::SqlFilter filter;
    try {
        request = decode_request(request_text);
        filter = query::compile_query(request.query, query::now_ms());
    } catch (const query::QueryError& error) {
        spdlog::info("rejected an invalid search query: {}", error.what());
        send_error(reply_subject,
                   fmt::format("invalid query '{}': {}", request.query, error.what()));
        return;
    } catch (const std::invalid_argument& error) {
        spdlog::info("rejected an invalid search request to {}: {}", reply_subject, error.what());
        send_error(reply_subject, fmt::format("invalid search request: {}", error.what()));
        return;
    }
    spdlog::debug("searching {} for '{}'", options_.store_path, request.query);

    // 2. Stream the matching events in chunks, at most `window` of them unacknowledged.
    store::StoreReader reader = store::StoreReader::open(options_.store_path);
    store::EventCursor rows = reader.select(filter, request.limit);
    std::string ack_inbox = connection_->new_inbox();
    natsSubscription* acks = nullptr;
    check_nats(natsConnection_SubscribeSync(&acks, connection_->handle(), ack_inbox.c_str()),
               "failed to subscribe to the acknowledgment inbox");

    uint64_t chunk_events = std::min(request.chunk_events, kMaxChunkEvents);
    // Half the server's maximum payload leaves room for the reply's own fields.
    uint64_t chunk_bytes_max = static_cast<uint64_t>(
        std::max(natsConnection_GetMaxPayload(connection_->handle()) / 2, kMinChunkBytes));
    uint64_t count = 0;
    uint64_t outstanding = 0;
    uint64_t index = 0;
    bool abandoned = false;
    std::vector<std::string> chunk;
    uint64_t chunk_bytes = 0;
    store::StoredEvent stored;
    auto flush_chunk = [&] {
        if (outstanding >= request.window) {
            if (!wait_for_ack(acks, options_.ack_timeout, stopping_)) return false;
            --outstanding;
        }
        send_text(reply_subject, encode_chunk(options_.device, index, chunk), ack_inbox.c_str());
        ++outstanding;
        ++index;
        chunk.clear();
        chunk_bytes = 0;
        return true;
    };
    uint64_t oversized = 0;
    while (!stopping_ && rows.next(stored)) {
        if (stored.event.device.empty()) stored.event.device = options_.device;
        std::string json = store::stored_event_json(stored);
        if (json.size() > chunk_bytes_max) {
            // No message could carry it; the reply's notes count it instead.
            ++oversized;
            continue;
        }
        chunk.push_back(std::move(json));
        chunk_bytes += chunk.back().size();
        ++count;
        bool chunk_full = chunk.size() >= chunk_events || chunk_bytes >= chunk_bytes_max;
        if (chunk_full && !flush_chunk()) {
            abandoned = true;
            break;
        }
    }
    if (!abandoned && !chunk.empty() && !flush_chunk()) abandoned = true;
    natsSubscription_Destroy(acks);
    if (abandoned || stopping_) {
        const std::string reason =
            stopping_ ? "the agent is stopping"
                      : fmt::format(
                            "the requester stopped acknowledging for {} s (a reader of "
                            "its output that does not keep up holds it back)",
                            options_.ack_timeout.count() / 1000.0);
        spdlog::warn("abandoned the search for '{}' after {} events: {}", request.query, count,
                     reason);
        // The requester then names the cause instead of waiting for --timeout.
        send_error(reply_subject,
                   fmt::format("abandoned the search after {} events: {}", count, reason));
        return;
    }

    // 3. The count, so that the requester can check that no chunk is missing.
    SearchReply reply;
    reply.type = ReplyType::kDone;
    reply.device = options_.device;
    reply.count = count;
    reply.notes = filter.warnings;
    if (oversized > 0) {
        reply.notes.push_back(fmt::format(
            "{} matching events were left out: each is larger than half the {} bytes a NATS "
            "message may hold on this server ('protowatch search' on the device shows them)",
            oversized, natsConnection_GetMaxPayload(connection_->handle())));
    }
    send(reply_subject, reply);
    spdlog::debug("sent {} events for the search '{}'", count, request.query);
}

}  // namespace pw::fleet
