#include "process/attributor.h"

#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "process/namespace_socket.h"
#include "process/proc_table.h"

namespace pw::process {
namespace {

// Reasons written into process.unattributed_reason.
constexpr const char* kNotSocketTransport = "only TCP and UDP connections are attributed";
constexpr const char* kNoSocket =
    "no local socket matches the connection (not a connection of this machine, or its socket "
    "closed before it was listed)";
constexpr const char* kNoOwnerInode =
    "the socket no longer belongs to a process (TIME-WAIT or closing)";
constexpr const char* kProcessGone =
    "no process holds the socket any more (process gone, or its /proc/<pid>/fd unreadable)";

// How old the namespace list may be when a lookup found no socket.
constexpr std::chrono::milliseconds kMissNamespaceRefresh{200};

bool is_unspecified(const decode::IpAddress& address) {
    return std::all_of(address.bytes.begin(), address.bytes.end(),
                       [](uint8_t byte) { return byte == 0; });
}

// A socket bound to `port` on `address` or on the wildcard address, not connected: a TCP
// listener or an unconnected UDP socket.
bool is_open_on(const SocketEntry& socket, const decode::IpAddress& address, uint16_t port) {
    if (socket.local_port != port || socket.remote_port != 0) return false;
    if (socket.ip_protocol == IPPROTO_TCP && socket.state != kTcpListen) return false;
    return socket.local == address || is_unspecified(socket.local);
}

}  // namespace

ProcessAttributor::ProcessAttributor(AttributorOptions options) : options_(options) {
    {
        std::lock_guard lock(mutex_);
        refresh_namespaces_locked(options_.namespace_refresh);
        refresh_locked();
    }
    if (options_.poll_interval.count() > 0) poller_ = std::thread([this] { poll_loop(); });
}

ProcessAttributor::~ProcessAttributor() {
    {
        std::lock_guard lock(wake_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (poller_.joinable()) poller_.join();
}

void ProcessAttributor::poll_loop() {
    std::unique_lock wake_lock(wake_mutex_);
    while (!wake_.wait_for(wake_lock, options_.poll_interval, [this] { return stopping_; })) {
        std::lock_guard lock(mutex_);
        refresh_namespaces_locked(options_.namespace_refresh);
        refresh_locked();
    }
}

void ProcessAttributor::refresh_namespaces_locked(std::chrono::milliseconds interval) {
    auto now = std::chrono::steady_clock::now();
    if (!namespaces_.empty() && now - namespaces_listed_ < interval) return;
    namespaces_listed_ = now;

    uint64_t own = own_network_namespace();
    std::vector<Namespace> updated;
    for (const NetworkNamespace& found : list_network_namespaces()) {
        auto existing = std::find_if(namespaces_.begin(), namespaces_.end(),
                                     [&](const Namespace& ns) { return ns.inode == found.inode; });
        if (existing != namespaces_.end() && existing->socket) {
            updated.push_back(std::move(*existing));
            continue;
        }
        Namespace ns{found.inode, found.pid, std::nullopt, {}};
        try {
            ns.socket = found.inode == own ? host::NetlinkSocket(NETLINK_SOCK_DIAG)
                                           : open_sock_diag_in(
                                                 "/proc/" + std::to_string(found.pid) +
                                                 "/ns/net");
        } catch (const std::system_error& error) {
            ns.error = error.what();
            bool known_error = existing != namespaces_.end() && existing->error == ns.error;
            if (!known_error) {
                spdlog::warn("network namespace {} cannot be read: {}", found.inode, ns.error);
            }
        }
        updated.push_back(std::move(ns));
    }
    for (const NamedNamespace& named : list_named_namespaces()) {
        bool listed = std::any_of(updated.begin(), updated.end(),
                                  [&](const Namespace& ns) { return ns.inode == named.inode; });
        if (listed) continue;
        Namespace ns{named.inode, 0, std::nullopt, {}};
        try {
            ns.socket = open_sock_diag_in(named.path);
        } catch (const std::system_error& error) {
            ns.error = error.what();
        }
        updated.push_back(std::move(ns));
    }
    if (own != 0 && std::none_of(updated.begin(), updated.end(),
                                 [&](const Namespace& ns) { return ns.inode == own; })) {
        // No process is listed in our own namespace when /proc belongs to another pid
        // namespace; it is still read.
        updated.push_back({own, 0, host::NetlinkSocket(NETLINK_SOCK_DIAG), {}});
    }
    namespaces_ = std::move(updated);
    stats_.namespaces = namespaces_.size();
    stats_.unreadable_namespaces = static_cast<size_t>(std::count_if(
        namespaces_.begin(), namespaces_.end(), [](const Namespace& ns) { return !ns.socket; }));
}

void ProcessAttributor::refresh_locked(uint8_t ip_protocol) {
    auto now = std::chrono::steady_clock::now();
    last_refresh_ = now;
    ++stats_.refreshes;
    for (Namespace& ns : namespaces_) {
        if (!ns.socket) continue;
        std::vector<SocketEntry> sockets;
        try {
            sockets = list_sockets(*ns.socket, ip_protocol);
        } catch (const std::system_error& error) {
            // The namespace's last process exited, or netlink failed: list it again later.
            spdlog::debug("listing the sockets of network namespace {} failed: {}", ns.inode,
                          error.what());
            ns.socket.reset();
            ns.error = error.what();
            continue;
        }
        for (const SocketEntry& socket : sockets) {
            SocketKey key{socket.ip_protocol, socket.local, socket.local_port, socket.remote,
                          socket.remote_port};
            Known& known = known_[key];
            // A TIME-WAIT entry (inode 0) keeps the owner found while the socket was open.
            if (socket.inode != 0 && socket.inode != known.socket.inode) {
                known.process.reset();
                known.owner_missing = false;
                known.socket = socket;
            } else if (known.socket.inode == 0) {
                known.socket = socket;
            } else {
                known.socket.state = socket.state;
            }
            known.network_namespace = ns.inode;
            known.seen = now;
        }
    }
    // A listing of one protocol says nothing of the other's sockets.
    std::erase_if(known_, [&](const auto& entry) {
        if (ip_protocol != 0 && entry.second.socket.ip_protocol != ip_protocol) return false;
        return now - entry.second.seen > options_.recent_lifetime;
    });
    resolve_owners_locked();
    stats_.known_sockets = known_.size();
}

void ProcessAttributor::resolve_owners_locked() {
    // Walk /proc only for sockets whose inode is new, since the walk costs one readlink per
    // open file of every process. One new socket, the usual case at a connection's first
    // packet, takes a walk that stops at its owner; more take one full walk.
    std::vector<Known*> unresolved;
    for (auto& [key, known] : known_) {
        if (known.process || known.owner_missing || known.socket.inode == 0) continue;
        unresolved.push_back(&known);
    }
    size_t new_inodes = static_cast<size_t>(std::count_if(
        unresolved.begin(), unresolved.end(),
        [&](const Known* known) { return owners_.count(known->socket.inode) == 0; }));
    if (new_inodes == 1) {
        for (Known* known : unresolved) {
            if (owners_.count(known->socket.inode) != 0) continue;
            if (auto pid = find_socket_owner(known->socket.inode)) {
                owners_[known->socket.inode] = *pid;
            }
        }
        ++stats_.proc_scans;
    } else if (new_inodes > 1) {
        owners_ = scan_socket_owners();
        ++stats_.proc_scans;
    }

    std::unordered_map<int64_t, std::optional<events::Process>> read;
    for (Known* known : unresolved) {
        auto owner = owners_.find(known->socket.inode);
        if (owner == owners_.end()) {
            known->owner_missing = true;
            continue;
        }
        auto [at, inserted] = read.try_emplace(owner->second);
        if (inserted) at->second = read_process(owner->second);
        known->process = at->second;
        known->owner_missing = !at->second.has_value();
    }
}

const ProcessAttributor::Known* ProcessAttributor::match_connected_locked(
    const Connection& c) const {
    // The initiator's own socket first, then the responder's.
    auto found = known_.find({c.ip_protocol, c.source, c.source_port, c.target, c.target_port});
    if (found != known_.end()) return &found->second;
    found = known_.find({c.ip_protocol, c.target, c.target_port, c.source, c.source_port});
    if (found != known_.end()) return &found->second;
    return nullptr;
}

const ProcessAttributor::Known* ProcessAttributor::match_unconnected_locked(
    const Connection& c) const {
    // An unconnected UDP socket of the initiator, then the responder's listener or
    // unconnected UDP socket: a TCP connection's accepted socket exists only after the
    // handshake, later than its first packet.
    const Known* responder = nullptr;
    for (const auto& [key, known] : known_) {
        const SocketEntry& socket = known.socket;
        if (socket.ip_protocol != c.ip_protocol) continue;
        if (socket.ip_protocol == IPPROTO_UDP && is_open_on(socket, c.source, c.source_port)) {
            return &known;
        }
        if (responder == nullptr && is_open_on(socket, c.target, c.target_port)) {
            responder = &known;
        }
    }
    return responder;
}

const ProcessAttributor::Known* ProcessAttributor::find_exact_locked(const Connection& c) {
    // The initiator's socket in every namespace first, then the responder's (for TCP the
    // kernel's lookup also returns the listener before the handshake has completed).
    struct Endpoints {
        const decode::IpAddress& local;
        uint16_t local_port;
        const decode::IpAddress& remote;
        uint16_t remote_port;
    };
    const Endpoints sides[] = {{c.source, c.source_port, c.target, c.target_port},
                               {c.target, c.target_port, c.source, c.source_port}};
    for (const Endpoints& side : sides) {
        for (Namespace& ns : namespaces_) {
            if (!ns.socket) continue;
            std::optional<SocketEntry> socket;
            try {
                socket = find_socket(*ns.socket, c.ip_protocol, side.local, side.local_port,
                                     side.remote, side.remote_port);
            } catch (const std::system_error& error) {
                spdlog::debug("socket lookup in network namespace {} failed: {}", ns.inode,
                              error.what());
            }
            // A socket on another port is not this connection's, whatever the lookup found.
            if (!socket || socket->inode == 0 || socket->local_port != side.local_port) continue;
            SocketKey key{socket->ip_protocol, socket->local, socket->local_port,
                          socket->remote, socket->remote_port};
            Known& known = known_[key];
            if (known.socket.inode != socket->inode) {
                known.process.reset();
                known.owner_missing = false;
            }
            known.socket = *socket;
            known.network_namespace = ns.inode;
            known.seen = std::chrono::steady_clock::now();
            resolve_owners_locked();
            return &known;
        }
    }
    return nullptr;
}

std::string ProcessAttributor::reason_locked(const Known* known) const {
    if (known == nullptr) {
        std::string reason = kNoSocket;
        if (stats_.unreadable_namespaces > 0) {
            reason += "; " + std::to_string(stats_.unreadable_namespaces) +
                      " network namespaces could not be read";
        }
        return reason;
    }
    if (known->socket.inode == 0) return kNoOwnerInode;
    return kProcessGone;
}

events::Process ProcessAttributor::attribute(const Connection& connection) {
    std::lock_guard lock(mutex_);
    ++stats_.lookups;
    events::Process result;
    if (connection.ip_protocol != IPPROTO_TCP && connection.ip_protocol != IPPROTO_UDP) {
        result.unattributed_reason = kNotSocketTransport;
        return result;
    }
    const Known* known = match_connected_locked(connection);
    if (known == nullptr || !known->process) known = find_exact_locked(connection);
    if (known == nullptr || !known->process) {
        // A miss: the socket may be newer than the last listing, or its owner unknown.
        // Listeners are matched only after that, since a local initiator's socket is the
        // better answer when both ends are on this machine. A namespace whose only process
        // is the connection's may be newer than the last enumeration.
        refresh_namespaces_locked(kMissNamespaceRefresh);
        refresh_locked(connection.ip_protocol);
        known = match_connected_locked(connection);
        if (known == nullptr) known = match_unconnected_locked(connection);
    }
    if (known != nullptr && known->process) {
        ++stats_.attributed;
        return *known->process;
    }
    result.unattributed_reason = reason_locked(known);
    if (known != nullptr) {
        // The socket's owner uid is still known when its process is not.
        result.uid = known->socket.uid;
        result.user = user_name(known->socket.uid);
    }
    return result;
}

std::vector<OwnedSocket> ProcessAttributor::current_sockets() {
    std::lock_guard lock(mutex_);
    refresh_namespaces_locked(options_.namespace_refresh);
    refresh_locked();
    std::vector<OwnedSocket> result;
    for (const auto& [key, known] : known_) {
        if (known.seen != last_refresh_) continue;  // listed earlier, closed since
        result.push_back({known.socket, known.network_namespace, known.process});
    }
    return result;
}

AttributionStats ProcessAttributor::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

}  // namespace pw::process
