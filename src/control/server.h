#pragma once

#include <chrono>

#include <sys/socket.h>
#include <sys/stat.h>

#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "control/access.h"
#include "control/peer.h"
#include "control/protocol.h"

namespace pw::control {

// The caller of a command, resolved when its connection was accepted.
struct Caller {
    PeerCredentials peer;
    Role role = Role::kNone;
};

// Sends the rows of a listing before the command's result.
class Reply {
  public:
    explicit Reply(int fd, const nlohmann::json& id) : fd_(fd), id_(id) {}
    // Sends one {"id", "item"} line. Throws std::system_error when the client hung up.
    void send_item(const nlohmann::json& item);
    // True once sending failed, so that the connection is dropped.
    bool broken() const { return broken_; }

  private:
    int fd_;
    const nlohmann::json& id_;
    bool broken_ = false;
};

// A command's handler: reads the request's "args" and returns the "result". It throws
// CommandError for a failure the client should see; any other exception is logged and sent
// as an internal error.
using Handler =
    std::function<nlohmann::json(const nlohmann::json& args, const Caller& caller, Reply& reply)>;

struct ServerSettings {
    std::string socket_path = kDefaultSocketPath;
    AccessGroups groups;
    // The socket file's mode: its group is the reader group, so that the kernel already
    // rejects a connect() from anyone outside it (and from admins not in the reader group,
    // unless they are root).
    mode_t socket_mode = 0660;
    // Connections served at once. A further client gets a "busy" reply and is closed. A
    // connection counts until its client closes it, which the server checks at the next
    // accept even when the connection's thread has not yet ended.
    size_t max_connections = 16;
    // Of those, one user other than root may hold this many, so that one user's clients
    // cannot take every slot. Root has no such share, and may hold root_extra_connections
    // beyond max_connections, so that an administrator can connect while others hold every
    // slot.
    size_t per_user_connections = 4;
    size_t root_extra_connections = 4;
    // Connections closed by their clients whose threads have not ended yet. They do not
    // count towards the limits above, but beyond this many in all, or
    // per_user_closing_connections of one user, every new client other than root gets
    // "busy". So clients that connect and close in a loop cannot start threads without
    // bound, nor keep root out.
    size_t max_closing_connections = 64;
    size_t per_user_closing_connections = 8;
    // A connection that sends no whole request line for this long, or does not read a
    // reply for this long, is closed, so that idle or stalled clients do not keep the
    // connection slots.
    std::chrono::milliseconds idle_timeout{30'000};
};

// Lets through at most kLines log lines per kWindow and counts the others, so that a
// client cannot flood the log. Thread-safe.
class LogLimiter {
  public:
    static constexpr size_t kLines = 20;
    static constexpr std::chrono::seconds kWindow{10};

    // Returns whether a line may be logged now.
    bool allow();
    // Returns ", and N similar lines were not logged before this one" once after lines were
    // suppressed, else "". Call it for a line that allow() let through.
    std::string suppressed_note();

  private:
    std::mutex mutex_;
    std::chrono::steady_clock::time_point window_start_{};
    size_t lines_ = 0;
    size_t suppressed_ = 0;
    size_t to_report_ = 0;
};

// The agent's control socket: accepts connections on a Unix stream socket, checks each
// caller's role against the command's, and runs the registered handlers. Each connection is
// served on its own thread, so a handler may run concurrently with others.
class ControlServer {
  public:
    explicit ControlServer(ServerSettings settings);
    ~ControlServer();  // stops
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Adds a command; call before start(). Replaces a command of the same name.
    void register_command(const std::string& name, Role required, Handler handler);

    // Creates the socket (and its directory, mode 0755) and sets its mode and group, without
    // accepting yet. Throws std::runtime_error naming the path when another agent listens
    // there or the socket cannot be created. The agent calls it before dropping the
    // privilege to give the socket to the reader group.
    void listen();
    // Listens (unless listen() ran) and starts the accepting thread.
    void start();
    // Stops accepting, ends open connections and joins every thread; the socket file is
    // removed. Safe to call more than once.
    void stop();

    // Takes new access groups (after a policy reload): later requests are checked against
    // them, and the socket file's group follows the reader group.
    void set_groups(const AccessGroups& groups);
    AccessGroups groups() const;

    const std::string& socket_path() const { return settings_.socket_path; }

  private:
    struct Command {
        Role required;
        Handler handler;
    };
    struct Connection {
        int fd = -1;
        uid_t uid = 0;
        std::thread thread;
        bool done = false;
    };

    void accept_loop();
    void serve(Connection& connection);
    nlohmann::json run_request(const std::string& line, const Caller& caller, int fd);
    void reap_finished_locked();
    std::string admission_error_locked(const ucred& peer) const;
    void apply_socket_group(const AccessGroups& groups);

    ServerSettings settings_;
    std::map<std::string, Command> commands_;
    // Bounds the warnings about turned-away connections and rejected requests, which any
    // member of the reader group can cause at will.
    LogLimiter rejection_log_;
    mutable std::mutex mutex_;  // guards settings_.groups and connections_
    std::list<Connection> connections_;
    int listen_fd_ = -1;
    int wake_fd_ = -1;  // an eventfd that stop() signals
    bool running_ = false;
    std::thread acceptor_;
};

}  // namespace pw::control
