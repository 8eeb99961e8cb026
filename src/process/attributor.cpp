#include "process/attributor.h"

#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <span>
#include <unordered_set>

#include "host/local_addresses.h"
#include "process/namespace_socket.h"
#include "process/proc_table.h"

namespace pw::process {
namespace {

// Reasons written into process.unattributed_reason.
constexpr const char* kNotSocketTransport = "only TCP and UDP connections are attributed";
constexpr const char* kNoSocket =
    "no local socket matches the connection (not a connection of this machine, or its socket "
    "closed before it was listed)";
constexpr const char* kNoOwnerTcp =
    "the socket no longer belongs to a process (TIME-WAIT or closing)";
constexpr const char* kNoOwnerUdp = "the socket no longer belongs to a process (closing)";
constexpr const char* kProcessGone =
    "no process holds the socket any more (process gone, or its /proc/<pid>/fd unreadable)";

// A listing of every namespace's sockets may take at most 1/kListingShare of the time of the
// thread that makes it.
constexpr int kListingShare = 10;

// Returns the time to wait after a listing that took `took`: `interval`, or longer when the
// listing was slow.
std::chrono::milliseconds paced_interval(std::chrono::milliseconds interval,
                                         std::chrono::steady_clock::duration took) {
    return std::max(interval, std::chrono::ceil<std::chrono::milliseconds>(took * kListingShare));
}

// How old the namespace list may be when a lookup found no socket.
constexpr std::chrono::milliseconds kMissNamespaceRefresh{200};
// How often a lookup from an address not known as this machine's lists /run/netns.
constexpr std::chrono::milliseconds kNamedNamespaceInterval{10};
// How old the socket listing may be when a lookup found no socket.
constexpr std::chrono::milliseconds kMissListingInterval{10};

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

// The notifications of addresses added to and removed from interfaces.
constexpr uint32_t kAddressGroups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;

// Opens rtnetlink in the namespace that `path` enters, or in ours when it is empty, joined to
// the address notifications. Returns nothing when that fails: the namespace's sockets can
// still be read.
std::optional<host::NetlinkSocket> open_route(const std::string& path) {
    try {
        return path.empty() ? host::NetlinkSocket(NETLINK_ROUTE, kAddressGroups)
                            : open_netlink_in(path, NETLINK_ROUTE, kAddressGroups);
    } catch (const std::system_error& error) {
        spdlog::debug("opening rtnetlink in network namespace {} failed: {}", path, error.what());
        return std::nullopt;
    }
}

}  // namespace

ProcessAttributor::ProcessAttributor(AttributorOptions options)
    : options_(options), address_changes_(epoll_create1(EPOLL_CLOEXEC)) {
    {
        std::lock_guard lock(mutex_);
        refresh_namespaces_locked(options_.namespace_refresh);
        refresh_locked(0, true, Listing::kHeld);
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
    if (address_changes_ >= 0) close(address_changes_);
}

void ProcessAttributor::poll_loop() {
    std::unique_lock wake_lock(wake_mutex_);
    std::chrono::milliseconds interval = options_.poll_interval;
    while (!wake_.wait_for(wake_lock, interval, [this] { return stopping_; })) {
        // The listing and the walk of /proc run without the lock that every lookup takes,
        // because a lookup at a connection's first packet that waits for them finds the
        // socket of a short connection gone. Only the merges take the lock.
        std::vector<std::pair<uint64_t, std::string>> targets;
        {
            std::lock_guard lock(mutex_);
            refresh_namespaces_locked(options_.namespace_refresh);
            for (const Namespace& ns : namespaces_) {
                if (ns.socket) targets.emplace_back(ns.inode, ns.path);
            }
        }
        const auto started = std::chrono::steady_clock::now();
        std::vector<NamespaceListing> listings = list_for_poller(targets);
        // With many namespaces a listing is slow (see find_locked()), and the poller shares
        // the CPUs with the capture threads.
        interval =
            paced_interval(options_.poll_interval, std::chrono::steady_clock::now() - started);
        std::vector<OwnerQuery> queries;
        {
            std::lock_guard lock(mutex_);
            merge_listings_locked(listings, 0);
            queries = owner_queries_locked();
        }
        OwnerScan scan = scan_owners(queries);
        std::lock_guard lock(mutex_);
        apply_owners_locked(queries, std::move(scan));
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
            if (!existing->route) existing->route = open_route(existing->path);
            updated.push_back(std::move(*existing));
            continue;
        }
        Namespace ns;
        ns.inode = found.inode;
        ns.pid = found.pid;
        if (found.inode != own) ns.path = "/proc/" + std::to_string(found.pid) + "/ns/net";
        try {
            ns.socket = ns.path.empty() ? host::NetlinkSocket(NETLINK_SOCK_DIAG)
                                        : open_netlink_in(ns.path, NETLINK_SOCK_DIAG);
        } catch (const std::system_error& error) {
            ns.error = error.what();
            bool known_error = existing != namespaces_.end() && existing->error == ns.error;
            if (!known_error) {
                spdlog::warn("network namespace {} cannot be read: {}", found.inode, ns.error);
            }
        }
        if (ns.socket) ns.route = open_route(ns.path);
        updated.push_back(std::move(ns));
    }
    for (const NamedNamespace& named : list_named_namespaces()) {
        // A namespace whose process exited before it was entered is entered by its name.
        auto listed = std::find_if(updated.begin(), updated.end(),
                                   [&](const Namespace& ns) { return ns.inode == named.inode; });
        if (listed != updated.end() && listed->socket) continue;
        if (listed != updated.end()) updated.erase(listed);
        Namespace ns;
        ns.inode = named.inode;
        ns.path = named.path;
        try {
            ns.socket = open_netlink_in(named.path, NETLINK_SOCK_DIAG);
        } catch (const std::system_error& error) {
            ns.error = error.what();
        }
        if (ns.socket) ns.route = open_route(ns.path);
        updated.push_back(std::move(ns));
    }
    if (own != 0 && std::none_of(updated.begin(), updated.end(),
                                 [&](const Namespace& ns) { return ns.inode == own; })) {
        // No process is listed in our own namespace when /proc belongs to another pid
        // namespace; it is still read.
        Namespace ns;
        ns.inode = own;
        ns.socket = host::NetlinkSocket(NETLINK_SOCK_DIAG);
        ns.route = open_route({});
        updated.push_back(std::move(ns));
    }
    namespaces_ = std::move(updated);
    read_interface_addresses_locked();
    stats_.namespaces = namespaces_.size();
    stats_.unreadable_namespaces = static_cast<size_t>(std::count_if(
        namespaces_.begin(), namespaces_.end(), [](const Namespace& ns) { return !ns.socket; }));
}

void ProcessAttributor::read_interface_addresses_locked() {
    for (Namespace& ns : namespaces_) {
        if (!ns.route) continue;
        if (!ns.watched) {
            epoll_event watch{};
            watch.events = EPOLLIN;
            watch.data.u64 = ns.inode;
            ns.watched =
                epoll_ctl(address_changes_, EPOLL_CTL_ADD, ns.route->descriptor(), &watch) == 0;
        }
        read_addresses_locked(ns);
    }
    merge_interface_addresses_locked();
}

void ProcessAttributor::read_addresses_locked(Namespace& ns) {
    try {
        ns.addresses = host::read_addresses(*ns.route);
    } catch (const std::system_error& error) {
        // The namespace's last process exited: it is opened again at the next enumeration,
        // if it still exists. Closing the socket also ends its watch.
        spdlog::debug("reading the addresses of network namespace {} failed: {}", ns.inode,
                      error.what());
        ns.route.reset();
        ns.watched = false;
        ns.addresses.clear();
    }
}

void ProcessAttributor::merge_interface_addresses_locked() {
    interface_addresses_.clear();
    for (const Namespace& ns : namespaces_) {
        interface_addresses_.insert(ns.addresses.begin(), ns.addresses.end());
    }
}

bool ProcessAttributor::new_named_namespace_locked() {
    const auto now = std::chrono::steady_clock::now();
    if (now - named_listed_ < kNamedNamespaceInterval) return false;
    named_listed_ = now;
    for (const NamedNamespace& named : list_named_namespaces()) {
        const bool known =
            std::any_of(namespaces_.begin(), namespaces_.end(),
                        [&](const Namespace& ns) { return ns.inode == named.inode && ns.socket; });
        if (!known) return true;
    }
    return false;
}

void ProcessAttributor::follow_address_changes_locked() {
    // The kernel sends an address's notification before the request that added it returns,
    // so a connection from a new address finds it here.
    epoll_event ready[16];
    const int count = epoll_wait(address_changes_, ready, 16, 0);
    if (count <= 0) return;
    std::vector<uint8_t> discard(64 * 1024);
    for (int i = 0; i < count; ++i) {
        for (Namespace& ns : namespaces_) {
            if (ns.inode != ready[i].data.u64 || !ns.route) continue;
            // A notification reports one change, so the namespace's list is read again whole.
            for (;;) {
                const ssize_t length =
                    recv(ns.route->descriptor(), discard.data(), discard.size(), MSG_DONTWAIT);
                if (length > 0 || (length < 0 && errno == ENOBUFS)) continue;
                break;
            }
            read_addresses_locked(ns);
        }
    }
    merge_interface_addresses_locked();
}

void ProcessAttributor::refresh_locked(uint8_t ip_protocol, bool resolve, Listing scope) {
    std::vector<NamespaceListing> listings;
    for (Namespace& ns : namespaces_) {
        if (!ns.socket) continue;
        NamespaceListing& listing = listings.emplace_back();
        listing.inode = ns.inode;
        try {
            listing.sockets = list_sockets(*ns.socket, ip_protocol, scope);
        } catch (const std::system_error& error) {
            listing.error = error.what();
        }
    }
    merge_listings_locked(listings, ip_protocol);
    if (resolve) resolve_owners_locked();
}

std::vector<ProcessAttributor::NamespaceListing> ProcessAttributor::list_for_poller(
    const std::vector<std::pair<uint64_t, std::string>>& targets) {
    std::erase_if(poller_sockets_, [&](const auto& entry) {
        return std::none_of(targets.begin(), targets.end(),
                            [&](const auto& target) { return target.first == entry.first; });
    });
    std::vector<NamespaceListing> listings;
    for (const auto& [inode, path] : targets) {
        NamespaceListing& listing = listings.emplace_back();
        listing.inode = inode;
        try {
            auto socket = poller_sockets_.find(inode);
            if (socket == poller_sockets_.end()) {
                socket =
                    poller_sockets_
                        .emplace(inode, path.empty() ? host::NetlinkSocket(NETLINK_SOCK_DIAG)
                                                     : open_netlink_in(path, NETLINK_SOCK_DIAG))
                        .first;
            }
            listing.sockets = list_sockets(socket->second, 0, Listing::kHeld);
        } catch (const std::system_error& error) {
            listing.error = error.what();
            poller_sockets_.erase(inode);
        }
    }
    return listings;
}

void ProcessAttributor::merge_listings_locked(const std::vector<NamespaceListing>& listings,
                                              uint8_t ip_protocol) {
    auto now = std::chrono::steady_clock::now();
    last_refresh_ = now;
    ++stats_.refreshes;
    for (const NamespaceListing& listing : listings) {
        if (!listing.error.empty()) {
            // The namespace's last process exited, or netlink failed: list it again after
            // the next enumeration.
            spdlog::debug("listing the sockets of network namespace {} failed: {}", listing.inode,
                          listing.error);
            for (Namespace& ns : namespaces_) {
                if (ns.inode != listing.inode) continue;
                ns.socket.reset();
                ns.error = listing.error;
            }
            continue;
        }
        for (const SocketEntry& socket : listing.sockets) {
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
            known.network_namespace = listing.inode;
            known.seen = now;
            note_local_address_locked(socket);
        }
    }
    // A listing of one protocol says nothing of the other's sockets.
    std::erase_if(known_, [&](const auto& entry) {
        if (ip_protocol != 0 && entry.second.socket.ip_protocol != ip_protocol) return false;
        return now - entry.second.seen > options_.recent_lifetime;
    });
    stats_.known_sockets = known_.size();
}

void ProcessAttributor::resolve_owners_locked() {
    std::vector<OwnerQuery> queries = owner_queries_locked();
    apply_owners_locked(queries, scan_owners(queries));
}

void ProcessAttributor::resolve_inode_locked(uint64_t inode) {
    std::vector<OwnerQuery> query{{inode, std::nullopt}};
    auto cached = owners_.find(inode);
    if (cached != owners_.end()) query.front().cached_pid = cached->second;
    apply_owners_locked(query, scan_owners(query));
}

std::vector<ProcessAttributor::OwnerQuery> ProcessAttributor::owner_queries_locked() const {
    std::vector<OwnerQuery> queries;
    for (const auto& [key, known] : known_) {
        if (known.process || known.owner_missing || known.socket.inode == 0) continue;
        OwnerQuery query{known.socket.inode, std::nullopt};
        auto cached = owners_.find(known.socket.inode);
        if (cached != owners_.end()) query.cached_pid = cached->second;
        queries.push_back(query);
    }
    return queries;
}

ProcessAttributor::OwnerScan ProcessAttributor::scan_owners(
    const std::vector<OwnerQuery>& queries) {
    // Walk /proc only for sockets whose inode is new, since the walk costs one readlink per
    // open file of every process. One new socket, the usual case at a connection's first
    // packet, takes a walk that stops at its owner; more take one full walk.
    OwnerScan scan;
    std::vector<uint64_t> new_inodes;
    for (const OwnerQuery& query : queries) {
        if (!query.cached_pid) new_inodes.push_back(query.inode);
    }
    scan.walked = !new_inodes.empty();
    if (new_inodes.size() == 1) {
        if (auto pid = find_socket_owner(new_inodes.front())) scan.owners[new_inodes[0]] = *pid;
    } else if (new_inodes.size() > 1) {
        scan.owners = scan_socket_owners();
        scan.complete = true;
    }
    for (const OwnerQuery& query : queries) {
        auto found = scan.owners.find(query.inode);
        std::optional<int64_t> pid =
            found != scan.owners.end() ? std::optional<int64_t>(found->second) : query.cached_pid;
        if (pid && scan.processes.count(*pid) == 0) scan.processes[*pid] = read_process(*pid);
    }
    return scan;
}

void ProcessAttributor::apply_owners_locked(const std::vector<OwnerQuery>& queries,
                                            OwnerScan scan) {
    if (scan.walked) ++stats_.proc_scans;
    if (scan.complete) {
        owners_ = std::move(scan.owners);
    } else {
        for (const auto& [inode, pid] : scan.owners) owners_[inode] = pid;
    }
    std::unordered_set<uint64_t> asked;
    for (const OwnerQuery& query : queries) asked.insert(query.inode);
    // Entries may have changed while the walk ran without the lock, so they are matched by
    // inode, and only those still unresolved take the result.
    for (auto& [key, known] : known_) {
        if (known.process || known.owner_missing || asked.count(known.socket.inode) == 0) continue;
        auto owner = owners_.find(known.socket.inode);
        auto process =
            owner == owners_.end() ? scan.processes.end() : scan.processes.find(owner->second);
        if (process == scan.processes.end()) {
            known.owner_missing = true;
            continue;
        }
        known.process = process->second;
        known.owner_missing = !process->second.has_value();
    }
}

const ProcessAttributor::Known* ProcessAttributor::confirm_locked(const Known& remembered) {
    const SocketEntry& socket = remembered.socket;
    auto ns = std::find_if(namespaces_.begin(), namespaces_.end(), [&](const Namespace& each) {
        return each.inode == remembered.network_namespace;
    });
    if (ns == namespaces_.end() || !ns->socket) return &remembered;
    std::optional<SocketEntry> current;
    try {
        current = find_socket(*ns->socket, socket.ip_protocol, socket.local, socket.local_port,
                              socket.remote, socket.remote_port);
    } catch (const std::system_error& error) {
        spdlog::debug("socket lookup in network namespace {} failed: {}", ns->inode, error.what());
    }
    // The remembered owner is kept when the kernel has no socket with these endpoints, the
    // same socket, or one in TIME-WAIT, which no process has open and whose owner was the
    // remembered one.
    if (!current || current->inode == 0 || current->inode == socket.inode ||
        current->local_port != socket.local_port || current->remote_port != socket.remote_port) {
        return &remembered;
    }
    return &remember_found_locked(*current, ns->inode);
}

const ProcessAttributor::Known* ProcessAttributor::match_connected_locked(
    const Connection& c, bool initiator_only) const {
    // The initiator's own socket first, then the responder's.
    auto found = known_.find({c.ip_protocol, c.source, c.source_port, c.target, c.target_port});
    if (found != known_.end()) return &found->second;
    if (initiator_only) return nullptr;
    found = known_.find({c.ip_protocol, c.target, c.target_port, c.source, c.source_port});
    if (found != known_.end()) return &found->second;
    return nullptr;
}

const ProcessAttributor::Known* ProcessAttributor::match_unconnected_locked(
    const Connection& c, bool initiator_only) const {
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
        if (!initiator_only && responder == nullptr &&
            is_open_on(socket, c.target, c.target_port)) {
            responder = &known;
        }
    }
    return responder;
}

const ProcessAttributor::Known* ProcessAttributor::find_exact_locked(const Connection& c,
                                                                     bool initiator_only) {
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
    for (const Endpoints& side : std::span(sides).first(initiator_only ? 1 : 2)) {
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
            return &remember_found_locked(*socket, ns.inode);
        }
    }
    return nullptr;
}

ProcessAttributor::Known& ProcessAttributor::remember_found_locked(const SocketEntry& socket,
                                                                   uint64_t network_namespace) {
    Known& known = known_[{socket.ip_protocol, socket.local, socket.local_port, socket.remote,
                           socket.remote_port}];
    if (known.socket.inode != socket.inode) {
        known.process.reset();
        known.owner_missing = false;
    }
    known.socket = socket;
    known.network_namespace = network_namespace;
    known.seen = std::chrono::steady_clock::now();
    note_local_address_locked(socket);
    if (!known.process && !known.owner_missing) resolve_inode_locked(known.socket.inode);
    return known;
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
    if (known->socket.inode == 0) {
        // UDP has no TIME-WAIT: its socket lingers without an owner only while it closes.
        return known->socket.ip_protocol == IPPROTO_UDP ? kNoOwnerUdp : kNoOwnerTcp;
    }
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
    const Known* known = find_locked(connection);
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

void ProcessAttributor::look_ahead(const Connection& connection) {
    if (connection.ip_protocol != IPPROTO_TCP && connection.ip_protocol != IPPROTO_UDP) return;
    std::lock_guard lock(mutex_);
    ++stats_.early_lookups;
    find_locked(connection);
}

Connection ProcessAttributor::oriented_locked(const Connection& c) const {
    // A connection seen from its middle, between two ports above 1023, gets its first
    // sender as initiator. When that sender's port is a listener's and the other's is not,
    // the other end connected to it.
    // NOTE: the ports are those of listeners in any namespace, and a connection whose
    // handshake was seen is checked too, since the events do not say which ones were. A
    // client whose own port is a listener's elsewhere on the machine is taken for the server.
    if (c.ip_protocol != IPPROTO_TCP || !listening_ports_.contains(c.source_port) ||
        listening_ports_.contains(c.target_port)) {
        return c;
    }
    return {c.ip_protocol, c.target, c.target_port, c.source, c.source_port};
}

const ProcessAttributor::Known* ProcessAttributor::find_locked(const Connection& seen) {
    const Connection connection = oriented_locked(seen);
    // A connection that this machine initiated is its initiator's process's. When both ends
    // are on the machine, the responder's socket belongs to the process at the other end
    // (in this or another network namespace). That process did not make the connection, so
    // it is not used even when the initiator's socket closed before it was found.
    if (!is_local_address_locked(connection.source)) {
        follow_address_changes_locked();
        // A namespace named with `ip netns add` since the last enumeration is enumerated at
        // once. Other new namespaces are found only by walking /proc, so at most every
        // kMissNamespaceRefresh.
        if (!is_local_address_locked(connection.source)) {
            refresh_namespaces_locked(new_named_namespace_locked() ? std::chrono::milliseconds(0)
                                                                   : kMissNamespaceRefresh);
        }
    }
    const bool initiator_only = is_local_address_locked(connection.source);
    const Known* known = match_connected_locked(connection, initiator_only);
    if (known != nullptr && known->process) known = confirm_locked(*known);
    if (known == nullptr || !known->process) known = find_exact_locked(connection, initiator_only);
    if (known == nullptr || !known->process) {
        // A miss: the socket may be newer than the last listing, or its owner unknown.
        // Listeners are matched only after that, since a local initiator's socket is the
        // better answer when both ends are on this machine. A namespace whose only process
        // is the connection's may be newer than the last enumeration.
        refresh_namespaces_locked(kMissNamespaceRefresh);
        // Only the matching socket's owner is looked for: resolving every new socket of the
        // listing would take a full walk of /proc while the lock holds up other lookups.
        // Misses list at most once per kMissListingInterval, since in a burst of short
        // connections each of many lookups in a row would list the same sockets. The kernel
        // walks its whole connection hash table for each namespace's listing, which took
        // about 3 ms with 300 sockets on a 24 GiB virtual machine (Linux 6.18). Slow listings
        // are therefore spaced further (paced_interval()), because this lookup runs on a
        // capture thread, whose ring fills while it waits.
        const auto now = std::chrono::steady_clock::now();
        if (now - last_refresh_ >= miss_listing_interval_) {
            refresh_locked(connection.ip_protocol, false, Listing::kHeld);
            miss_listing_interval_ =
                paced_interval(kMissListingInterval, std::chrono::steady_clock::now() - now);
        }
        // The enumeration may have found the initiator's address on an interface since.
        const bool local_initiator = initiator_only || is_local_address_locked(connection.source);
        known = match_connected_locked(connection, local_initiator);
        if (known == nullptr) known = match_unconnected_locked(connection, local_initiator);
        if (known != nullptr && !known->process && !known->owner_missing &&
            known->socket.inode != 0) {
            resolve_inode_locked(known->socket.inode);
        }
    }
    return known;
}

void ProcessAttributor::note_local_address_locked(const SocketEntry& socket) {
    if (socket.ip_protocol == IPPROTO_TCP && socket.state == TCP_LISTEN) {
        // Bounded by the 65,536 ports.
        listening_ports_.insert(socket.local_port);
    }
    if (is_unspecified(socket.local)) return;
    // A machine has few addresses. The bound keeps a stream of odd entries from growing the
    // set: it starts again, and fills again from the next listings.
    constexpr size_t kMaxLocalAddresses = 4096;
    if (local_addresses_.size() >= kMaxLocalAddresses) local_addresses_.clear();
    std::array<uint8_t, 17> key{};
    std::copy(socket.local.bytes.begin(), socket.local.bytes.end(), key.begin());
    key[16] = socket.local.is_v6 ? 1 : 0;
    local_addresses_.insert(key);
}

bool ProcessAttributor::is_local_address_locked(const decode::IpAddress& address) const {
    if (!address.is_v6 && address.bytes[0] == 127) return true;  // 127.0.0.0/8
    static constexpr std::array<uint8_t, 16> kLoopbackV6{0, 0, 0, 0, 0, 0, 0, 0,
                                                         0, 0, 0, 0, 0, 0, 0, 1};
    if (address.is_v6 && address.bytes == kLoopbackV6) return true;
    if (interface_addresses_.contains(address)) return true;
    std::array<uint8_t, 17> key{};
    std::copy(address.bytes.begin(), address.bytes.end(), key.begin());
    key[16] = address.is_v6 ? 1 : 0;
    return local_addresses_.contains(key);
}

std::vector<OwnedSocket> ProcessAttributor::current_sockets() {
    std::lock_guard lock(mutex_);
    refresh_namespaces_locked(options_.namespace_refresh);
    refresh_locked(0, true, Listing::kAll);
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
