#pragma once

#include <chrono>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "control/protocol.h"

namespace pw::control {

// A failed call: no agent, a connection the kernel refused, or an error the agent returned.
// `code` is the agent's error code, or empty when the call never reached the agent.
class ClientError : public std::runtime_error {
  public:
    ClientError(const std::string& message, std::string code = {})
        : std::runtime_error(message), code_(std::move(code)) {}
    const std::string& code() const { return code_; }

  private:
    std::string code_;
};

// The socket path for the command line: $PROTOWATCH_CONTROL_SOCKET, else kDefaultSocketPath.
std::string default_socket_path();

// A connection to the agent's control socket; calls run one after another.
class ControlClient {
  public:
    // Connects to `path`. Throws ClientError with what to do when no agent listens there or
    // the kernel denies access (naming the socket's group that the user lacks).
    explicit ControlClient(const std::string& path);
    ~ControlClient();
    ControlClient(const ControlClient&) = delete;
    ControlClient& operator=(const ControlClient&) = delete;

    using ItemCallback = std::function<void(const nlohmann::json& item)>;

    // Sends a request and returns its result; items that precede it go to `on_item`. Throws
    // ClientError with the agent's message when it returns an error, and when the agent
    // sends nothing for kReplyTimeout.
    nlohmann::json call(const std::string& command,
                        const nlohmann::json& args = nlohmann::json::object(),
                        const ItemCallback& on_item = {});

    // How long a call waits for each line of the agent's reply.
    static constexpr std::chrono::seconds kReplyTimeout{60};

  private:
    int fd_ = -1;
    std::string path_;
    int64_t next_id_ = 1;
    std::unique_ptr<LineReader> reader_;
};

}  // namespace pw::control
