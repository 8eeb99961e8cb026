#pragma once

#include <nats/nats.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

#include "fleet/nats_settings.h"

namespace pw::fleet {

// A failed nats.c call; the message names the operation and carries the library's text.
class NatsError : public std::runtime_error {
  public:
    NatsError(natsStatus status, const std::string& message)
        : std::runtime_error(message), status_(status) {}
    natsStatus status() const { return status_; }

  private:
    natsStatus status_;
};

// The NATS client library could not be loaded, or lacks a function (nats_library.cpp).
class NatsLibraryError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The library's text for the last failure in this thread, without its source location, or
// the text of `status` when there is none.
std::string last_error_text(natsStatus status);

// Throws NatsError for `status` unless it is NATS_OK, prefixing `what` to the library's text.
void check_nats(natsStatus status, std::string_view what);

enum class ConnectMode {
    // Fails when no server answers; for short-lived commands such as `fleet search`.
    kFailFast,
    // Returns at once and keeps connecting and reconnecting in the background, without a
    // limit; for the publisher and the search responder, which outlive outages.
    kRetryInBackground,
};

// One connection to the NATS cluster, with the settings' servers, TLS and credentials.
// Logs disconnections and reconnections with the server's URL, never with credentials.
class NatsConnection {
  public:
    // `name` is the client name the server shows in its monitoring. `inbox_prefix` replaces
    // nats.c's "_INBOX" for every inbox of the connection, JetStream's included; empty keeps
    // it. Throws std::invalid_argument for invalid settings and NatsError when connecting
    // fails.
    NatsConnection(const NatsSettings& settings, ConnectMode mode, const std::string& name,
                   const std::string& inbox_prefix = "");
    ~NatsConnection();
    NatsConnection(const NatsConnection&) = delete;
    NatsConnection& operator=(const NatsConnection&) = delete;

    natsConnection* handle() const { return connection_; }
    // A new unique subject below the connection's inbox prefix.
    std::string new_inbox() const;
    bool is_connected() const;
    // The last error the server reported asynchronously (a permissions violation), then
    // cleared; empty when there was none.
    std::string take_async_error();

  private:
    static void on_disconnected(natsConnection* connection, void* self);
    static void on_reconnected(natsConnection* connection, void* self);
    static void on_error(natsConnection* connection, natsSubscription* subscription,
                         natsStatus status, void* self);
    static void on_closed(natsConnection* connection, void* self);
    void configure(const NatsSettings& settings, ConnectMode mode, const std::string& name);

    std::string inbox_prefix_;
    natsOptions* options_ = nullptr;
    natsConnection* connection_ = nullptr;
    std::atomic<bool> closing_{false};
    std::mutex mutex_;
    std::string async_error_;
    // Set by on_closed, the last callback nats.c runs for the connection.
    std::condition_variable closed_signal_;
    bool closed_ = false;
};

}  // namespace pw::fleet
