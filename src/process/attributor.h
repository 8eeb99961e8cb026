#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "decode/packet.h"
#include "events/event.h"
#include "host/netlink.h"
#include "process/sock_diag.h"

namespace pw::process {

// A connection as the pipeline sees it: initiator (source) and responder (target).
struct Connection {
    uint8_t ip_protocol = 0;
    decode::IpAddress source;
    uint16_t source_port = 0;
    decode::IpAddress target;
    uint16_t target_port = 0;
};

struct AttributorOptions {
    // How often every namespace's sockets are listed, so that a socket that closes before
    // its first packet is looked up is still known; 0 lists them only on a lookup miss.
    std::chrono::milliseconds poll_interval{100};
    // How long a socket that is no longer listed stays known.
    std::chrono::milliseconds recent_lifetime{30'000};
    // How often the network namespaces are enumerated again.
    std::chrono::milliseconds namespace_refresh{2'000};
};

struct AttributionStats {
    uint64_t lookups = 0;
    uint64_t attributed = 0;
    uint64_t early_lookups = 0;  // look_ahead() calls
    uint64_t refreshes = 0;    // socket listings over every namespace
    uint64_t proc_scans = 0;   // walks of /proc/<pid>/fd
    size_t known_sockets = 0;
    size_t namespaces = 0;
    size_t unreadable_namespaces = 0;
};

// A socket of the machine with its owner, as netstat lists it without the agent.
struct OwnedSocket {
    SocketEntry socket;
    uint64_t network_namespace = 0;
    std::optional<events::Process> process;
};

// Ties connections to the local processes that own their sockets. Sockets come from
// sock_diag in every network namespace of the machine, their owners from the socket inodes
// under /proc/<pid>/fd. Thread-safe.
class ProcessAttributor {
public:
    explicit ProcessAttributor(AttributorOptions options = {});
    ~ProcessAttributor();
    ProcessAttributor(const ProcessAttributor&) = delete;
    ProcessAttributor& operator=(const ProcessAttributor&) = delete;

    // Returns the process of `connection`'s initiator when it is local, else that of its
    // responder. When neither is found, the result has pid 0 and says why in
    // unattributed_reason.
    events::Process attribute(const Connection& connection);

    // Finds the sockets and owner of `connection` as attribute() does and remembers them,
    // without counting a lookup: a later attribute() of the connection then finds its owner
    // even when the owner closed the socket or exited in between.
    void look_ahead(const Connection& connection);

    // Lists the sockets of every readable namespace now, with their owners.
    std::vector<OwnedSocket> current_sockets();

    AttributionStats stats() const;

private:
    // protocol, local address and port, remote address and port
    using SocketKey = std::tuple<uint8_t, decode::IpAddress, uint16_t, decode::IpAddress,
                                 uint16_t>;
    struct Known {
        SocketEntry socket;
        uint64_t network_namespace = 0;
        std::optional<events::Process> process;
        bool owner_missing = false;  // no /proc/<pid>/fd held the inode at the last scan
        std::chrono::steady_clock::time_point seen;
    };
    struct Namespace {
        uint64_t inode = 0;
        int64_t pid = 0;
        std::optional<host::NetlinkSocket> socket;  // sock_diag, used under mutex_
        std::optional<host::NetlinkSocket> route;   // rtnetlink, for its addresses
        bool watched = false;                       // route is in address_changes_
        std::set<decode::IpAddress> addresses;      // of its interfaces
        std::string error;                          // why it cannot be read, empty when it can
        std::string path;  // what enters it (/proc/<pid>/ns/net, /run/netns/NAME), empty for ours
    };
    // The sockets of one namespace, as one listing returned them.
    struct NamespaceListing {
        uint64_t inode = 0;
        std::vector<SocketEntry> sockets;
        std::string error;  // why the listing failed, empty when it did not
    };

    // A socket inode whose owner is to be found, with the pid that held it at the last walk
    // of /proc, if any.
    struct OwnerQuery {
        uint64_t inode = 0;
        std::optional<int64_t> cached_pid;
    };
    // Owners found by walking /proc.
    struct OwnerScan {
        bool walked = false;    // some inode was new, so /proc was walked
        bool complete = false;  // `owners` contains every socket of every process
        std::unordered_map<uint64_t, int64_t> owners;  // socket inode to pid
        std::unordered_map<int64_t, std::optional<events::Process>> processes;
    };

    void poll_loop();
    // Enumerates the namespaces again when the last enumeration is older than `interval`.
    void refresh_namespaces_locked(std::chrono::milliseconds interval);
    // Lists the sockets of every namespace, of `ip_protocol` only unless it is 0, and finds
    // the owners of new ones unless `resolve` is false.
    void refresh_locked(uint8_t ip_protocol, bool resolve, Listing scope);
    // Takes listings into the known sockets; a failed one closes its namespace until the next
    // enumeration.
    void merge_listings_locked(const std::vector<NamespaceListing>& listings, uint8_t ip_protocol);
    // Lists every socket of the namespaces `targets` (inode and path) through the poller's own
    // netlink sockets, without the lock. Poller thread only.
    std::vector<NamespaceListing> list_for_poller(
        const std::vector<std::pair<uint64_t, std::string>>& targets);
    void resolve_owners_locked();
    // Finds the owner of one socket: a walk of /proc that stops at it.
    void resolve_inode_locked(uint64_t inode);
    std::vector<OwnerQuery> owner_queries_locked() const;
    // Walks /proc for the queries' owners; needs no lock.
    static OwnerScan scan_owners(const std::vector<OwnerQuery>& queries);
    void apply_owners_locked(const std::vector<OwnerQuery>& queries, OwnerScan scan);
    // Asks each namespace's kernel for the connection's socket directly (no listing): the
    // initiator's, then, unless `initiator_only`, the responder's.
    const Known* find_exact_locked(const Connection& connection, bool initiator_only);
    // Records `socket`, which the kernel's exact lookup in `network_namespace` returned, and
    // finds its owner unless the entry already has that socket's owner.
    Known& remember_found_locked(const SocketEntry& socket, uint64_t network_namespace);
    // Returns the socket of `connection` that attribute() uses. It is a remembered one, else
    // the one the kernel's exact lookup returns, else a listener or unconnected socket. Returns
    // nullptr when none is found.
    const Known* find_locked(const Connection& connection);
    const Known* match_connected_locked(const Connection& connection, bool initiator_only) const;
    // Asks the kernel whether another socket took the endpoints of `remembered` since its
    // owner was found, which a process of any user can do once the remembered connection
    // closed. Returns that socket's entry, with its own owner, or else `remembered`.
    const Known* confirm_locked(const Known& remembered);
    const Known* match_unconnected_locked(const Connection& connection,
                                          bool initiator_only) const;
    // Returns `connection` with its ends swapped when the pipeline's guess of its initiator
    // is a TCP listener's port, as when the connection was first seen mid-stream.
    Connection oriented_locked(const Connection& connection) const;
    // Records the local address of a listed or found socket (see local_addresses_).
    void note_local_address_locked(const SocketEntry& socket);
    // Reads the interfaces' addresses of every namespace into interface_addresses_, and
    // watches the namespaces for changes.
    void read_interface_addresses_locked();
    // Reads the addresses of the interfaces of `ns`.
    void read_addresses_locked(Namespace& ns);
    void merge_interface_addresses_locked();
    // Reads again the addresses of the namespaces whose addresses changed.
    void follow_address_changes_locked();
    // Returns true when /run/netns contains a namespace that is not enumerated or could not
    // be opened. Lists /run/netns at most once per kNamedNamespaceInterval and returns false
    // in between.
    bool new_named_namespace_locked();
    // Returns whether `address` is a loopback address, an interface's address or the local
    // address of a socket seen on this machine, in any network namespace.
    bool is_local_address_locked(const decode::IpAddress& address) const;
    std::string reason_locked(const Known* known) const;

    AttributorOptions options_;
    mutable std::mutex mutex_;
    std::vector<Namespace> namespaces_;
    std::chrono::steady_clock::time_point namespaces_listed_{};
    std::chrono::steady_clock::time_point last_refresh_{};
    // How long after a listing a lookup that misses may list again (find_locked()).
    std::chrono::milliseconds miss_listing_interval_{10};
    std::map<SocketKey, Known> known_;
    std::unordered_map<uint64_t, int64_t> owners_;  // socket inode to pid
    // The local addresses of the sockets listed so far, in every namespace: the addresses
    // of this machine that have carried traffic. The 16 address bytes, then 1 for IPv6.
    std::set<std::array<uint8_t, 17>> local_addresses_;
    // The addresses of the interfaces of every readable namespace, kept current by their
    // notifications. A client's address is known from them before any of its sockets was
    // listed.
    std::set<decode::IpAddress> interface_addresses_;
    // An epoll instance that the namespaces' rtnetlink sockets report address changes to.
    int address_changes_ = -1;
    std::chrono::steady_clock::time_point named_listed_{};
    // The ports of the TCP listeners listed so far, in every namespace.
    std::set<uint16_t> listening_ports_;
    AttributionStats stats_;
    // The poller's own socket per namespace, so that it lists without the lock; only the
    // poller thread touches it.
    std::map<uint64_t, host::NetlinkSocket> poller_sockets_;

    std::mutex wake_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread poller_;
};

}  // namespace pw::process
