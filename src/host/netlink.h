#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace pw::host {

// A netlink socket (netlink(7)) that sends dump requests and reads their replies.
class NetlinkSocket {
public:
    // Opens a socket of `protocol` (NETLINK_ROUTE, NETLINK_SOCK_DIAG...) joined to the
    // multicast `groups`. Throws std::system_error.
    explicit NetlinkSocket(int protocol, uint32_t groups = 0);
    // Takes ownership of an open netlink socket, such as one created in another network
    // namespace.
    static NetlinkSocket adopt(int descriptor);
    ~NetlinkSocket();
    NetlinkSocket(NetlinkSocket&& other) noexcept;
    NetlinkSocket& operator=(NetlinkSocket&& other) noexcept;

    using Visit = std::function<void(const nlmsghdr& message)>;

    // Sends `request` (a complete message starting with its nlmsghdr, with NLM_F_DUMP set)
    // and calls `visit` for every reply until NLMSG_DONE. Throws std::system_error when the
    // kernel returns an error.
    void dump(std::span<uint8_t> request, const Visit& visit);

    // Sends `request` (one message without NLM_F_DUMP) and calls `visit` for its reply.
    // Returns false when the kernel answered with the error ENOENT (nothing matches);
    // throws std::system_error for any other error.
    bool request(std::span<uint8_t> request, const Visit& visit);

    // Reads one batch of multicast notifications and calls `visit` for each. Blocks unless
    // the socket was made non-blocking. Returns false when nothing could be read.
    bool receive(const Visit& visit);

    int descriptor() const { return descriptor_; }

private:
    NetlinkSocket() = default;
    void send(std::span<uint8_t> request);
    int descriptor_ = -1;
    uint32_t sequence_ = 0;
};

}  // namespace pw::host
