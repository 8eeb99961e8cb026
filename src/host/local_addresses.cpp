#include "host/local_addresses.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <cstring>

namespace pw::host {
namespace {

// How often the follower thread checks whether it should stop.
constexpr int kStopCheckMs = 200;

// Returns the address of an RTM_NEWADDR or RTM_DELADDR message. IFA_LOCAL is the address of
// the interface itself on point-to-point links, where IFA_ADDRESS is the peer, so it wins.
bool message_address(const nlmsghdr& message, decode::IpAddress& address) {
    const auto* info = static_cast<const ifaddrmsg*>(NLMSG_DATA(&message));
    int length = static_cast<int>(IFA_PAYLOAD(&message));
    const uint8_t* local = nullptr;
    const uint8_t* any = nullptr;
    for (const rtattr* attribute = IFA_RTA(info); RTA_OK(attribute, length);
         attribute = RTA_NEXT(attribute, length)) {
        auto* data = static_cast<const uint8_t*>(RTA_DATA(attribute));
        if (attribute->rta_type == IFA_LOCAL) local = data;
        if (attribute->rta_type == IFA_ADDRESS) any = data;
    }
    const uint8_t* chosen = local != nullptr ? local : any;
    if (chosen == nullptr) return false;
    if (info->ifa_family == AF_INET) {
        address = decode::IpAddress::v4(chosen);
    } else if (info->ifa_family == AF_INET6) {
        address = decode::IpAddress::v6(chosen);
    } else {
        return false;
    }
    return true;
}

}  // namespace

std::set<decode::IpAddress> read_addresses(NetlinkSocket& route) {
    struct {
        nlmsghdr header;
        ifaddrmsg body;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = RTM_GETADDR;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.body.ifa_family = AF_UNSPEC;
    std::set<decode::IpAddress> addresses;
    route.dump({reinterpret_cast<uint8_t*>(&request), sizeof request},
               [&](const nlmsghdr& message) {
                   decode::IpAddress address;
                   if (message.nlmsg_type == RTM_NEWADDR && message_address(message, address)) {
                       addresses.insert(address);
                   }
               });
    return addresses;
}

LocalAddresses::LocalAddresses()
    : events_(NETLINK_ROUTE, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR) {
    // Subscribe before the dump, so that no change between the two is missed.
    load();
    follower_ = std::thread([this] { follow(); });
}

LocalAddresses::~LocalAddresses() {
    stopping_ = true;
    if (follower_.joinable()) follower_.join();
}

void LocalAddresses::load() {
    NetlinkSocket socket(NETLINK_ROUTE);
    std::set<decode::IpAddress> loaded = read_addresses(socket);
    std::lock_guard lock(mutex_);
    addresses_ = std::move(loaded);
    spdlog::info("{} local addresses", addresses_.size());
}

void LocalAddresses::apply(const nlmsghdr& message) {
    decode::IpAddress address;
    if (message.nlmsg_type != RTM_NEWADDR && message.nlmsg_type != RTM_DELADDR) return;
    if (!message_address(message, address)) return;
    std::lock_guard lock(mutex_);
    if (message.nlmsg_type == RTM_NEWADDR) {
        if (addresses_.insert(address).second) spdlog::info("local address added: {}",
                                                             address.to_string());
    } else if (addresses_.erase(address) > 0) {
        spdlog::info("local address removed: {}", address.to_string());
    }
}

void LocalAddresses::follow() {
    while (!stopping_) {
        pollfd descriptor{events_.descriptor(), POLLIN, 0};
        if (::poll(&descriptor, 1, kStopCheckMs) <= 0) continue;
        if (events_.receive([this](const nlmsghdr& message) { apply(message); })) continue;
        // ENOBUFS: notifications were lost, so read the whole list again.
        if (errno == ENOBUFS) {
            spdlog::warn("address notifications were lost; reading the addresses again");
            try {
                load();
            } catch (const std::exception& error) {
                spdlog::error("reading the local addresses failed: {}", error.what());
            }
        }
    }
}

bool LocalAddresses::contains(const decode::IpAddress& address) const {
    std::lock_guard lock(mutex_);
    return addresses_.count(address) > 0;
}

std::set<decode::IpAddress> LocalAddresses::snapshot() const {
    std::lock_guard lock(mutex_);
    return addresses_;
}

}  // namespace pw::host
