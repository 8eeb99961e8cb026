#pragma once

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fleet/nats_connection.h"
#include "fleet/nats_settings.h"
#include "fleet/presence.h"
#include "fleet/search_messages.h"

namespace pw::fleet {

struct SearchResponderOptions {
    std::string store_path;
    // The agent's name in replies and in the presence bucket.
    std::string device;
    // How long the responder waits for the requester to acknowledge a chunk before it
    // abandons the request.
    std::chrono::milliseconds ack_timeout{10'000};
    // How often the agent writes its presence key.
    std::chrono::milliseconds heartbeat_interval{30'000};
};

// Answers fleet search requests on <prefix>.search with events of the local store, in the
// query language of `protowatch search`. Results go to the request's reply subject in chunks;
// after `window` chunks the responder waits for the requester's acknowledgments, so a slow
// requester slows only its own search. Up to kSearchThreads threads serve requests at once,
// each with its own read-only connection to the store, and up to kMaxWaiting more requests
// wait for a thread. A request beyond those gets an error reply that the agent is busy.
class SearchResponder {
  public:
    // Throws std::invalid_argument for invalid settings.
    SearchResponder(const NatsSettings& nats, SearchResponderOptions options);
    ~SearchResponder();
    SearchResponder(const SearchResponder&) = delete;
    SearchResponder& operator=(const SearchResponder&) = delete;

    // Connects (retrying in the background), subscribes and starts the heartbeat. Throws
    // NatsError when the subscription cannot be created.
    void start();
    // Withdraws the agent's presence and unsubscribes; a request in progress ends early,
    // and one still waiting gets an error reply.
    void stop();

    static constexpr size_t kSearchThreads = 4;
    static constexpr size_t kMaxWaiting = 16;

  private:
    static void on_request(natsConnection* connection, natsSubscription* subscription,
                           natsMsg* message, void* self);
    void answer(const char* reply_subject, std::string_view request_text);
    void send(const char* subject, const SearchReply& reply, const char* ack_subject = nullptr);
    void send_text(const char* subject, const std::string& text, const char* ack_subject);
    void send_error(const char* subject, const std::string& error);
    void run_heartbeat();
    void run_searches();
    void answer_message(natsMsg* message);

    NatsSettings nats_;
    SearchResponderOptions options_;
    std::unique_ptr<NatsConnection> connection_;
    std::unique_ptr<Presence> presence_;
    natsSubscription* subscription_ = nullptr;
    std::atomic<bool> stopping_{false};
    std::mutex heartbeat_mutex_;
    std::condition_variable heartbeat_wake_;
    std::thread heartbeat_;
    // Requests accepted and not yet taken by a search thread, oldest first.
    std::mutex waiting_mutex_;
    std::condition_variable waiting_wake_;
    std::deque<natsMsg*> waiting_;
    std::vector<std::thread> searchers_;
};

}  // namespace pw::fleet
