#include "control/server.h"

#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/directories.h"
#include "events/json.h"

namespace pw::control {
namespace {

sockaddr_un socket_address(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof address.sun_path) {
        throw std::runtime_error(fmt::format(
            "control socket path '{}' is empty or longer than {} bytes; choose a shorter path",
            path, sizeof address.sun_path - 1));
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

// True when a process accepts connections on `path`.
bool someone_listens(const sockaddr_un& address) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    bool listening =
        connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return listening;
}

// Removes a socket left by an agent that did not stop cleanly; anything else at the path is
// left alone and reported.
void remove_stale_socket(const std::string& path, const sockaddr_un& address) {
    struct stat status {};
    if (lstat(path.c_str(), &status) != 0) return;
    if (!S_ISSOCK(status.st_mode)) {
        throw std::runtime_error(fmt::format(
            "{} exists and is not a socket; remove it or choose another control socket path",
            path));
    }
    if (someone_listens(address)) {
        throw std::runtime_error(fmt::format(
            "another process already listens on the control socket {}; stop that agent first",
            path));
    }
    unlink(path.c_str());
}

nlohmann::json failure(const nlohmann::json& id, const std::string& code,
                       const std::string& message) {
    return {{"id", id}, {"ok", false}, {"code", code}, {"error", message}};
}

}  // namespace

void Reply::send_item(const nlohmann::json& item) {
    try {
        write_line(fd_, {{"id", id_}, {"item", item}});
    } catch (const std::system_error&) {
        broken_ = true;
        throw;
    }
}

bool LogLimiter::allow() {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start_ >= kWindow) {
        window_start_ = now;
        lines_ = 0;
        to_report_ += suppressed_;
        suppressed_ = 0;
    }
    if (lines_ >= kLines) {
        ++suppressed_;
        return false;
    }
    ++lines_;
    return true;
}

std::string LogLimiter::suppressed_note() {
    std::lock_guard lock(mutex_);
    if (to_report_ == 0) return {};
    std::string note =
        fmt::format(", and {} similar lines were not logged before this one", to_report_);
    to_report_ = 0;
    return note;
}

ControlServer::ControlServer(ServerSettings settings) : settings_(std::move(settings)) {}

ControlServer::~ControlServer() { stop(); }

void ControlServer::register_command(const std::string& name, Role required, Handler handler) {
    commands_[name] = Command{required, std::move(handler)};
}

void ControlServer::listen() {
    if (listen_fd_ >= 0) return;
    const std::string& path = settings_.socket_path;
    sockaddr_un address = socket_address(path);
    std::filesystem::path directory = std::filesystem::path(path).parent_path();
    // Access is checked on the socket file itself, so the directories that lead to it may
    // be open to everyone, as /run's are.
    if (!directory.empty()) create_directories_with(directory, 0755, static_cast<gid_t>(-1));
    remove_stale_socket(path, address);

    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw std::system_error(errno, std::generic_category(), "socket");
    // The socket file takes its mode from the umask at bind(); a mask that leaves no access
    // closes the window before the chmod below.
    mode_t previous_mask = umask(0177);
    int bound = bind(listen_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
    int bind_errno = errno;
    umask(previous_mask);
    if (bound != 0 || ::listen(listen_fd_, 64) != 0) {
        int code = bound != 0 ? bind_errno : errno;
        close(listen_fd_);
        listen_fd_ = -1;
        throw std::runtime_error(fmt::format("cannot listen on the control socket {}: {}", path,
                                             std::strerror(code)));
    }
    apply_socket_group(settings_.groups);
    if (chmod(path.c_str(), settings_.socket_mode) != 0) {
        spdlog::warn("control socket {}: chmod failed: {}", path, std::strerror(errno));
    }
}

void ControlServer::start() {
    listen();
    const std::string& path = settings_.socket_path;
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    running_ = true;
    acceptor_ = std::thread([this] { accept_loop(); });
    spdlog::info("control socket {} listening (admin group {}, reader group {})", path,
                 settings_.groups.admin_group, settings_.groups.reader_group);
}

void ControlServer::stop() {
    if (running_) {
        running_ = false;
        uint64_t one = 1;
        if (write(wake_fd_, &one, sizeof one) < 0) spdlog::warn("control socket: wake-up failed");
        acceptor_.join();
        {
            std::lock_guard lock(mutex_);
            // A shut-down socket makes the connection thread's read return, so that it ends.
            for (Connection& connection : connections_) shutdown(connection.fd, SHUT_RDWR);
        }
        for (Connection& connection : connections_) connection.thread.join();
        connections_.clear();
        close(wake_fd_);
        wake_fd_ = -1;
    }
    // A socket that listened but never accepted (the agent failed to start) goes too.
    if (listen_fd_ < 0) return;
    close(listen_fd_);
    listen_fd_ = -1;
    unlink(settings_.socket_path.c_str());
    spdlog::info("control socket {} closed", settings_.socket_path);
}

void ControlServer::set_groups(const AccessGroups& groups) {
    {
        std::lock_guard lock(mutex_);
        settings_.groups = groups;
    }
    if (listen_fd_ >= 0) apply_socket_group(groups);
}

AccessGroups ControlServer::groups() const {
    std::lock_guard lock(mutex_);
    return settings_.groups;
}

void ControlServer::apply_socket_group(const AccessGroups& groups) {
    std::optional<gid_t> gid = find_group(groups.reader_group);
    if (!gid) {
        spdlog::warn(
            "control socket {}: reader group {} does not exist, so only root and the agent's "
            "own user can connect; create it with `groupadd {}`",
            settings_.socket_path, groups.reader_group, groups.reader_group);
        return;
    }
    // -1 keeps the owner: the agent's user.
    if (chown(settings_.socket_path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
        spdlog::warn("control socket {}: cannot give it to group {}: {}", settings_.socket_path,
                     groups.reader_group, std::strerror(errno));
    }
}

void ControlServer::reap_finished_locked() {
    for (auto it = connections_.begin(); it != connections_.end();) {
        if (!it->done) {
            ++it;
            continue;
        }
        it->thread.join();
        it = connections_.erase(it);
    }
}

namespace {

// True when the client closed its end of `fd`. A Unix stream socket reports POLLHUP once
// both directions are shut down, which the peer's close() does at once. A client that only
// shut down its writing side may still read the replies to its requests, so it counts
// until the connection's thread has sent them and ended.
bool client_closed(int fd) {
    pollfd state{fd, 0, 0};
    return poll(&state, 1, 0) == 1 && (state.revents & (POLLHUP | POLLERR)) != 0;
}

}  // namespace

// Returns why the client `peer` may not connect now, or an empty string when it may.
std::string ControlServer::admission_error_locked(const ucred& peer) const {
    // A connection whose client closed it no longer counts, although its thread may not
    // have seen the end yet: a client that closes and connects again at once would otherwise
    // find its own old connection in the way. Such threads end at their next read or write.
    size_t open = 0;
    size_t user_open = 0;
    size_t user_closing = 0;
    for (const Connection& connection : connections_) {
        if (connection.done) continue;
        if (client_closed(connection.fd)) {
            if (connection.uid == peer.uid) ++user_closing;
            continue;
        }
        ++open;
        if (connection.uid == peer.uid) ++user_open;
    }
    const size_t closing = connections_.size() - open;
    const size_t allowed =
        settings_.max_connections + (peer.uid == 0 ? settings_.root_extra_connections : 0);
    if (peer.uid != 0 && user_open >= settings_.per_user_connections) {
        return fmt::format("user {} already has {} open control connections, the maximum for "
                           "one user; close one or try again in a moment",
                           peer.uid, user_open);
    }
    if (open >= allowed) {
        return fmt::format("the agent already serves {} control connections, the maximum{}; "
                           "try again in a moment",
                           open, peer.uid == 0 ? " for root" : "");
    }
    // Root is exempt from the bounds on closing connections, so that one user's loop of
    // connections cannot keep an administrator out.
    if (peer.uid != 0 && user_closing >= settings_.per_user_closing_connections) {
        return fmt::format(
            "the agent is still ending {} control connections of user {} that "
            "the clients closed; try again in a moment",
            user_closing, peer.uid);
    }
    if (peer.uid != 0 && closing >= settings_.max_closing_connections) {
        return fmt::format("the agent is still ending {} control connections that their "
                           "clients closed; try again in a moment",
                           closing);
    }
    return {};
}

void ControlServer::accept_loop() {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    while (true) {
        int ready = poll(fds, 2, -1);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) {
            spdlog::error("control socket {}: poll failed: {}", settings_.socket_path,
                          std::strerror(errno));
            return;
        }
        if (fds[1].revents != 0) return;
        if ((fds[0].revents & POLLIN) == 0) continue;

        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
                spdlog::warn("control socket {}: accept failed: {}", settings_.socket_path,
                             std::strerror(errno));
            }
            continue;
        }
        ucred peer{};
        socklen_t peer_size = sizeof peer;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) != 0) {
            spdlog::warn("control socket {}: reading a client's credentials failed: {}; closing "
                         "its connection",
                         settings_.socket_path, std::strerror(errno));
            close(fd);
            continue;
        }
        std::lock_guard lock(mutex_);
        reap_finished_locked();
        std::string rejection = admission_error_locked(peer);
        if (!rejection.empty()) {
            if (rejection_log_.allow()) {
                spdlog::warn("control socket {}: turned away pid {} (uid {}): {}{}",
                             settings_.socket_path, peer.pid, peer.uid, rejection,
                             rejection_log_.suppressed_note());
            }
            // The line is short and the new socket's buffer empty, so this does not block.
            try {
                write_line(fd, failure(nullptr, kCodeBusy, rejection));
            } catch (const std::system_error&) {
                // The client is gone already.
            }
            close(fd);
            continue;
        }
        Connection& connection = connections_.emplace_back();
        connection.fd = fd;
        connection.uid = peer.uid;
        connection.thread = std::thread([this, &connection] { serve(connection); });
    }
}

namespace {

// Reads and drops what the client still sends, until it closes its side, for at most
// 2 s and 64 MiB. A client still writing a request when the server closes would get a
// broken pipe or a reset instead of the error reply.
void discard_input(int fd) {
    constexpr auto kLimit = std::chrono::seconds(2);
    constexpr size_t kMaxBytes = size_t{64} << 20;
    shutdown(fd, SHUT_WR);  // the reply is complete
    const auto deadline = std::chrono::steady_clock::now() + kLimit;
    size_t discarded = 0;
    char chunk[65536];
    while (discarded < kMaxBytes) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return;
        pollfd readable{fd, POLLIN, 0};
        const int ready = poll(&readable, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return;
        const ssize_t count = read(fd, chunk, sizeof chunk);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) return;
        discarded += static_cast<size_t>(count);
    }
}

}  // namespace

void ControlServer::serve(Connection& connection) {
    int fd = connection.fd;
    const auto idle = settings_.idle_timeout;
    // A client that stops reading the replies blocks a send for at most as long.
    const timeval timeout{static_cast<time_t>(idle.count() / 1000),
                          static_cast<suseconds_t>(idle.count() % 1000 * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    try {
        Caller caller;
        caller.peer = read_peer_credentials(fd);
        LineReader reader(fd);
        std::string line;
        // Each request must arrive whole within the idle timeout after the last reply,
        // however slowly it trickles in. Empty lines do not count as requests, so that
        // sending one now and then does not keep a connection slot.
        auto deadline = std::chrono::steady_clock::now() + idle;
        while (true) {
            reader.set_deadline(deadline);
            LineReader::Status status = reader.next(line);
            if (status == LineReader::Status::kEnd) break;
            if (status == LineReader::Status::kTooLong) {
                write_line(fd, failure(nullptr, kCodeInvalid,
                                       fmt::format("request line longer than {} bytes; send "
                                                   "one JSON request per line",
                                                   kMaxLineBytes)));
                discard_input(fd);
                break;
            }
            if (line.empty()) continue;
            write_line(fd, run_request(line, caller, fd));
            deadline = std::chrono::steady_clock::now() + idle;
        }
    } catch (const std::system_error& error) {
        if (error.code().value() == ETIMEDOUT) {
            spdlog::debug("control connection sent no whole request for {} ms: closing it",
                          idle.count());
            try {
                write_line(fd, failure(nullptr, kCodeInvalid,
                                       fmt::format("no whole request within {} s: the agent "
                                                   "closed the connection; connect again to "
                                                   "send one",
                                                   idle.count() / 1000)));
            } catch (const std::system_error&) {
                // The client is gone already.
            }
        } else {
            // The client hung up or the server is stopping.
            spdlog::debug("control connection ended: {}", error.what());
        }
    }
    std::lock_guard lock(mutex_);
    close(fd);
    connection.fd = -1;
    connection.done = true;
}

nlohmann::json ControlServer::run_request(const std::string& line, const Caller& connected,
                                          int fd) {
    // Deeper nesting than any request has would overflow the stack when a value is copied.
    constexpr int kMaxNesting = 32;
    if (events::nests_deeper_than(line, kMaxNesting)) {
        return failure(nullptr, kCodeInvalid,
                       fmt::format("the request nests arrays or objects deeper than {} levels",
                                   kMaxNesting));
    }
    nlohmann::json request = nlohmann::json::parse(line, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
        return failure(nullptr, kCodeInvalid,
                       "the request is not a JSON object; send {\"id\": 1, \"command\": "
                       "\"NAME\", \"args\": {}} on one line");
    }
    nlohmann::json id = request.value("id", nlohmann::json());
    auto command_field = request.find("command");
    if (command_field == request.end() || !command_field->is_string()) {
        return failure(id, kCodeInvalid, "the request has no \"command\" string");
    }
    std::string name = command_field->get<std::string>();
    nlohmann::json args = request.value("args", nlohmann::json::object());
    if (!args.is_object()) return failure(id, kCodeInvalid, "\"args\" must be a JSON object");

    auto command = commands_.find(name);
    if (command == commands_.end()) {
        std::string known;
        for (const auto& [known_name, unused] : commands_) {
            known += (known.empty() ? "" : ", ") + known_name;
        }
        return failure(id, kCodeUnknown,
                       fmt::format("unknown command '{}'; this agent has: {}", name, known));
    }

    // The role is worked out per request, so that a policy reload that changes the groups
    // applies to connections already open.
    Caller caller = connected;
    AccessGroups groups = this->groups();
    caller.role = role_of(caller.peer, groups);
    if (caller.role < command->second.required) {
        if (rejection_log_.allow()) {
            spdlog::warn("control socket: rejected '{}' from user {} (uid {}, pid {}): role {}{}",
                         name, caller.peer.user, caller.peer.uid, caller.peer.pid,
                         role_name(caller.role), rejection_log_.suppressed_note());
        }
        return failure(id, kCodeDenied,
                       refusal_message(caller.peer, groups, name, command->second.required));
    }

    Reply reply(fd, id);
    try {
        nlohmann::json result = command->second.handler(args, caller, reply);
        return {{"id", id}, {"ok", true}, {"result", result}};
    } catch (const CommandError& error) {
        return failure(id, error.code(), error.what());
    } catch (const std::exception& error) {
        if (reply.broken()) throw;  // the client hung up during a listing
        spdlog::error("control command '{}' from user {} failed: {}", name, caller.peer.user,
                      error.what());
        return failure(id, kCodeFailed, fmt::format("internal error: {}", error.what()));
    }
}

}  // namespace pw::control
