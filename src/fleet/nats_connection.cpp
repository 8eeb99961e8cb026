#include "fleet/nats_connection.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <vector>

namespace pw::fleet {
namespace {

// Milliseconds to wait for a server to accept a connection, and between reconnect attempts.
constexpr int64_t kConnectTimeoutMs = 2000;
constexpr int64_t kReconnectWaitMs = 500;
// How long destruction waits for nats.c's closed callback.
constexpr std::chrono::seconds kCloseTimeout{5};

std::string connected_url(natsConnection* connection) {
    char url[512] = {};
    if (natsConnection_GetConnectedUrl(connection, url, sizeof url) != NATS_OK) return "?";
    return redact_url(url);
}

// Reads the user's public key from an NKey seed file. nats.c signs with the seed but also needs
// the public key, which it does not derive. `nk -gen user -pubout` writes the seed (SU...)
// and then the public key (U...) on the next line.
std::string read_nkey_public_key(const std::string& path) {
    std::ifstream file(path);
    std::string line;
    while (std::getline(file, line)) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.size() == 56 && line[0] == 'U') return line;
    }
    throw std::invalid_argument(fmt::format(
        "nkey_seed_file '{}' has no user public key (a line of 56 characters starting with "
        "'U'); write the file with `nk -gen user -pubout`",
        path));
}

// The reason for a failed connection, with a hint when nats.c's text hides the likely cause.
// A server that requires a client certificate (tls { verify: true }) ends the handshake of a
// client without one, and nats.c 3.4 then reports only "Expected 'PONG', got ''".
std::string connect_error_text(const NatsSettings& settings, natsStatus status) {
    std::string text = last_error_text(status);
    if (!requires_tls(settings) || text.find("Expected 'PONG'") == std::string::npos) {
        return text;
    }
    if (settings.tls_cert.empty()) {
        text +=
            " (the server closed the TLS connection; if it requires a client certificate, "
            "pass one with --nats-tls-cert and --nats-tls-key or nats.tls_cert and "
            "nats.tls_key)";
    } else {
        text += fmt::format(
            " (the server closed the TLS connection; check that it trusts the CA that signed "
            "the client certificate {})",
            settings.tls_cert);
    }
    return text;
}

}  // namespace

std::string last_error_text(natsStatus status) {
    const char* detail = nats_GetLastError(nullptr);
    if (detail == nullptr || detail[0] == '\0') return natsStatus_GetText(status);
    std::string text = detail;
    // nats.c starts the text with its source location: "(conn.c:2088): ".
    if (text.front() == '(') {
        size_t end = text.find("): ");
        if (end != std::string::npos) text.erase(0, end + 3);
    }
    return text;
}

void check_nats(natsStatus status, std::string_view what) {
    if (status == NATS_OK) return;
    throw NatsError(status, fmt::format("{}: {}", what, last_error_text(status)));
}

NatsConnection::NatsConnection(const NatsSettings& settings, ConnectMode mode,
                               const std::string& name, const std::string& inbox_prefix)
    : inbox_prefix_(inbox_prefix.empty() ? "_INBOX" : inbox_prefix) {
    validate(settings);
    try {
        configure(settings, mode, name);
        natsStatus status = natsConnection_Connect(&connection_, options_);
        if (status != NATS_OK && mode == ConnectMode::kRetryInBackground) {
            // A first attempt without retries names the cause (a refused connection, a
            // certificate that failed verification), which the retrying connect hides.
            spdlog::warn("cannot connect to NATS yet: {}; retrying in the background",
                         connect_error_text(settings, status));
            // With a callback nats.c connects in the background. Without one,
            // natsConnection_Connect would block until connected, forever with unlimited
            // reconnects.
            check_nats(natsOptions_SetRetryOnFailedConnect(options_, true,
                                                           &NatsConnection::on_reconnected, this),
                       "failed to set connection retries");
            status = natsConnection_Connect(&connection_, options_);
            // The connection exists and keeps connecting in the background.
            if (status == NATS_NOT_YET_CONNECTED) return;
        }
        if (status != NATS_OK) {
            std::string servers;
            for (const std::string& url : server_urls(settings)) {
                servers += (servers.empty() ? "" : ", ") + redact_url(url);
            }
            throw NatsError(status, fmt::format("failed to connect to NATS at {}: {}", servers,
                                                connect_error_text(settings, status)));
        }
    } catch (...) {
        // Only what exists: when the library could not be loaded or lacks a function, a
        // call made here would throw again and hide the first error.
        if (connection_ != nullptr) natsConnection_Destroy(connection_);
        if (options_ != nullptr) natsOptions_Destroy(options_);
        throw;
    }
    // A short-lived command logs its connection only at debug level.
    spdlog::log(mode == ConnectMode::kFailFast ? spdlog::level::debug : spdlog::level::info,
                "connected to NATS at {}", connected_url(connection_));
}

void NatsConnection::configure(const NatsSettings& settings, ConnectMode mode,
                               const std::string& name) {
    check_nats(natsOptions_Create(&options_), "failed to create NATS options");
    std::vector<std::string> urls = server_urls(settings);
    std::vector<const char*> url_pointers;
    for (const std::string& url : urls) url_pointers.push_back(url.c_str());
    check_nats(natsOptions_SetServers(options_, url_pointers.data(),
                                      static_cast<int>(url_pointers.size())),
               "invalid NATS server list");
    check_nats(natsOptions_SetName(options_, name.c_str()), "failed to set the client name");
    check_nats(natsOptions_SetTimeout(options_, kConnectTimeoutMs), "failed to set the timeout");
    check_nats(natsOptions_SetReconnectWait(options_, kReconnectWaitMs),
               "failed to set the reconnect wait");
    if (mode == ConnectMode::kRetryInBackground) {
        check_nats(natsOptions_SetMaxReconnect(options_, -1), "failed to set reconnects");
    }
    if (!settings.tls_ca.empty()) {
        check_nats(natsOptions_LoadCATrustedCertificates(options_, settings.tls_ca.c_str()),
                   fmt::format("failed to load tls_ca '{}'", settings.tls_ca));
    }
    if (!settings.tls_cert.empty()) {
        check_nats(natsOptions_LoadCertificatesChain(options_, settings.tls_cert.c_str(),
                                                     settings.tls_key.c_str()),
                   fmt::format("failed to load tls_cert '{}' and tls_key '{}'", settings.tls_cert,
                               settings.tls_key));
    }
    if (requires_tls(settings)) {
        check_nats(natsOptions_SetSecure(options_, true), "failed to enable TLS");
    }
    if (!settings.creds_file.empty()) {
        check_nats(
            natsOptions_SetUserCredentialsFromFiles(options_, settings.creds_file.c_str(), nullptr),
            fmt::format("failed to use creds_file '{}'", settings.creds_file));
    }
    if (!settings.nkey_seed_file.empty()) {
        std::string public_key = read_nkey_public_key(settings.nkey_seed_file);
        check_nats(natsOptions_SetNKeyFromSeed(options_, public_key.c_str(),
                                               settings.nkey_seed_file.c_str()),
                   fmt::format("failed to use nkey_seed_file '{}'", settings.nkey_seed_file));
    }
    check_nats(natsOptions_SetCustomInboxPrefix(options_, inbox_prefix_.c_str()),
               fmt::format("invalid inbox prefix '{}'", inbox_prefix_));
    natsOptions_SetDisconnectedCB(options_, &NatsConnection::on_disconnected, this);
    natsOptions_SetReconnectedCB(options_, &NatsConnection::on_reconnected, this);
    natsOptions_SetErrorHandler(options_, &NatsConnection::on_error, this);
    natsOptions_SetClosedCB(options_, &NatsConnection::on_closed, this);
}

NatsConnection::~NatsConnection() {
    closing_ = true;
    natsConnection_Close(connection_);
    // nats.c runs the callbacks on a thread of its own, after Close returns, and runs the
    // closed callback last. Destroying this object earlier would leave them a dangling pointer.
    {
        std::unique_lock lock(mutex_);
        if (!closed_signal_.wait_for(lock, kCloseTimeout, [this] { return closed_; })) {
            spdlog::warn("the NATS connection did not report its close within {} s",
                         kCloseTimeout.count());
        }
    }
    natsConnection_Destroy(connection_);
    natsOptions_Destroy(options_);
}

std::string NatsConnection::new_inbox() const {
    // natsInbox_Create always uses "_INBOX"; its unique token follows the first dot.
    natsInbox* inbox = nullptr;
    check_nats(natsInbox_Create(&inbox), "failed to create an inbox");
    std::string subject = inbox;
    natsInbox_Destroy(inbox);
    return inbox_prefix_ + subject.substr(subject.find('.'));
}

bool NatsConnection::is_connected() const {
    return natsConnection_Status(connection_) == NATS_CONN_STATUS_CONNECTED;
}

std::string NatsConnection::take_async_error() {
    std::lock_guard lock(mutex_);
    return std::exchange(async_error_, {});
}

void NatsConnection::on_disconnected(natsConnection* connection, void* self) {
    if (static_cast<NatsConnection*>(self)->closing_) return;
    const char* detail = nullptr;
    natsStatus status = natsConnection_GetLastError(connection, &detail);
    std::string cause = detail != nullptr && detail[0] != '\0' ? detail
                        : status != NATS_OK                    ? natsStatus_GetText(status)
                                                               : "the server closed the connection";
    spdlog::warn("disconnected from NATS: {}; reconnecting", cause);
}

void NatsConnection::on_reconnected(natsConnection* connection, void*) {
    spdlog::info("connected to NATS at {}", connected_url(connection));
}

void NatsConnection::on_closed(natsConnection*, void* self) {
    auto* owner = static_cast<NatsConnection*>(self);
    std::lock_guard lock(owner->mutex_);
    owner->closed_ = true;
    owner->closed_signal_.notify_all();
}

void NatsConnection::on_error(natsConnection* connection, natsSubscription*, natsStatus status,
                              void* self) {
    const char* detail = nullptr;
    natsConnection_GetLastError(connection, &detail);
    std::string text = detail != nullptr && detail[0] != '\0' ? detail : natsStatus_GetText(status);
    spdlog::error("NATS server reported an error: {}", text);
    auto* owner = static_cast<NatsConnection*>(self);
    std::lock_guard lock(owner->mutex_);
    owner->async_error_ = text;
}

}  // namespace pw::fleet
