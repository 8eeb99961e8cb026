#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "decode/packet.h"
#include "host/netlink.h"

namespace pw::host {

// Returns the addresses of every interface in the network namespace of `route`, a
// NETLINK_ROUTE socket. Throws std::system_error.
std::set<decode::IpAddress> read_addresses(NetlinkSocket& route);

// The machine's own IP addresses, read with rtnetlink (RTM_GETADDR) and kept current by a
// thread that follows RTM_NEWADDR and RTM_DELADDR notifications. Safe to query from any
// thread.
class LocalAddresses {
public:
    // Reads the addresses of the current network namespace and starts following changes.
    // Throws std::system_error when rtnetlink cannot be opened.
    LocalAddresses();
    ~LocalAddresses();
    LocalAddresses(const LocalAddresses&) = delete;
    LocalAddresses& operator=(const LocalAddresses&) = delete;

    bool contains(const decode::IpAddress& address) const;
    std::set<decode::IpAddress> snapshot() const;

private:
    void load();
    void follow();
    void apply(const nlmsghdr& message);

    NetlinkSocket events_;  // subscribed to the address groups
    mutable std::mutex mutex_;
    std::set<decode::IpAddress> addresses_;
    std::atomic<bool> stopping_{false};
    std::thread follower_;
};

}  // namespace pw::host
