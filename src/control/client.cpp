#include "control/client.h"

#include <fmt/format.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/ascii.h"
#include "control/peer.h"

namespace pw::control {
namespace {

std::string group_name(gid_t gid) {
    group* entry = getgrgid(gid);
    return entry != nullptr ? entry->gr_name : std::to_string(gid);
}

// Why the kernel denied the connection: the socket's group, which the user is not in.
std::string access_denied_message(const std::string& path) {
    PeerCredentials self = resolve_user(geteuid(), getegid());
    struct stat status {};
    if (stat(path.c_str(), &status) != 0) {
        return fmt::format(
            "permission denied on the control socket {}: user {} cannot reach it; ask an "
            "administrator for access to its directory",
            path, self.user);
    }
    if (status.st_gid == 0) {
        // The agent gives the socket to its reader group; root's group means that the
        // group did not exist when it started.
        return fmt::format(
            "permission denied on the control socket {}: it belongs to group root, because the "
            "agent found no reader group when it started. Ask an administrator to create the "
            "group that the policy names in access.reader_group (`groupadd protowatch-reader` "
            "for the default), add {} to it (`usermod -aG protowatch-reader {}`) and restart "
            "the agent",
            path, self.user, self.user);
    }
    std::string group = group_name(status.st_gid);
    return fmt::format(
        "permission denied on the control socket {}: user {} is not in group {}, which the "
        "socket belongs to. Ask an administrator to run `usermod -aG {} {}`, then log in again",
        path, self.user, group, group, self.user);
}

}  // namespace

std::string default_socket_path() {
    const char* path = std::getenv(kSocketPathVariable);
    return path != nullptr && path[0] != '\0' ? path : kDefaultSocketPath;
}

ControlClient::ControlClient(const std::string& path) : path_(path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof address.sun_path) {
        throw ClientError(fmt::format("invalid control socket path '{}'", path));
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);

    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw ClientError(fmt::format("socket failed: {}", std::strerror(errno)));
    if (connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        // In a directory that others may write (/tmp, say), another user may have bound the
        // path first. The agent runs as root, or as the user who started it to try it out.
        ucred server{};
        socklen_t size = sizeof server;
        if (getsockopt(fd_, SOL_SOCKET, SO_PEERCRED, &server, &size) == 0 && server.uid != 0 &&
            server.uid != geteuid()) {
            close(fd_);
            fd_ = -1;
            throw ClientError(fmt::format(
                "the control socket {} is served by pid {} of uid {}, which is neither root nor "
                "you, so it is not the agent's; pass the agent's socket with --control-socket",
                path, server.pid, server.uid));
        }
        const timeval timeout{static_cast<time_t>(kReplyTimeout.count()), 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        reader_ = std::make_unique<LineReader>(fd_);
        return;
    }
    int error = errno;
    close(fd_);
    fd_ = -1;
    switch (error) {
        case ENOENT:
            throw ClientError(fmt::format(
                "no agent is running: the control socket {} does not exist; start the agent "
                "(`systemctl start protowatch`) or pass --control-socket",
                path));
        case ECONNREFUSED:
            throw ClientError(fmt::format(
                "no agent is listening on the control socket {}; start the agent "
                "(`systemctl start protowatch`)",
                path));
        case EACCES:
        case EPERM: throw ClientError(access_denied_message(path), kCodeDenied);
        default:
            throw ClientError(fmt::format("cannot connect to the control socket {}: {}", path,
                                          std::strerror(error)));
    }
}

ControlClient::~ControlClient() {
    if (fd_ >= 0) close(fd_);
}

nlohmann::json ControlClient::call(const std::string& command, const nlohmann::json& args,
                                   const ItemCallback& on_item) {
    int64_t id = next_id_++;
    try {
        nlohmann::json sent_args = args.is_null() ? nlohmann::json::object() : args;
        try {
            write_line(fd_, {{"id", id}, {"command", command}, {"args", sent_args}});
        } catch (const std::system_error& error) {
            // An agent that turns the connection away (busy) replies and closes before it
            // reads the request. Its reply gives the reason, so read it before giving up.
            if (error.code().value() != EPIPE && error.code().value() != ECONNRESET) throw;
            std::string line;
            if (reader_->next(line) != LineReader::Status::kLine) throw;
            nlohmann::json response = nlohmann::json::parse(line, nullptr, false);
            if (!response.is_object() || !response.contains("error")) throw;
            throw ClientError(terminal_safe(response.value("error", std::string(error.what()))),
                              response.value("code", std::string(kCodeFailed)));
        }
        std::string line;
        while (true) {
            LineReader::Status status = reader_->next(line);
            if (status == LineReader::Status::kEnd) {
                throw ClientError(fmt::format(
                    "the agent closed the control connection before answering '{}'; see the "
                    "agent's log (`journalctl -u protowatch`)",
                    command));
            }
            if (status == LineReader::Status::kTooLong) {
                throw ClientError("the agent sent a line longer than the protocol allows");
            }
            nlohmann::json response = nlohmann::json::parse(line, nullptr, false);
            if (response.is_discarded() || !response.is_object()) {
                throw ClientError("the agent sent a line that is not a JSON object");
            }
            if (response.contains("item")) {
                if (on_item) on_item(response["item"]);
                continue;
            }
            if (response.value("ok", false)) return response.value("result", nlohmann::json());
            // The message may quote what a user sent (a policy key, say): printed as it is,
            // its control characters would reach the terminal.
            throw ClientError(
                terminal_safe(response.value("error", std::string("the agent returned an error"))),
                response.value("code", std::string(kCodeFailed)));
        }
    } catch (const std::system_error& error) {
        if (error.code().value() == EAGAIN || error.code().value() == EWOULDBLOCK) {
            throw ClientError(fmt::format(
                "timed out after {1} s waiting for the agent's reply to '{0}'; see the agent's "
                "log (`journalctl -u protowatch`)",
                command, kReplyTimeout.count()));
        }
        throw ClientError(fmt::format("control socket {}: {}", path_, error.what()));
    }
}

}  // namespace pw::control
