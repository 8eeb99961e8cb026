#include "host/netlink.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

namespace pw::host {
namespace {

// Large enough for a full batch of dump replies: the kernel fills up to a page-sized or
// 32 KiB skb per read, so 64 KiB never truncates a message.
constexpr size_t kReceiveBufferSize = 64 * 1024;

}  // namespace

NetlinkSocket::NetlinkSocket(int protocol, uint32_t groups) {
    descriptor_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (descriptor_ < 0) throw std::system_error(errno, std::generic_category(), "netlink socket");
    sockaddr_nl address{};
    address.nl_family = AF_NETLINK;
    address.nl_groups = groups;
    if (bind(descriptor_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        int error = errno;
        close(descriptor_);
        throw std::system_error(error, std::generic_category(), "netlink bind");
    }
}

NetlinkSocket NetlinkSocket::adopt(int descriptor) {
    NetlinkSocket socket;
    socket.descriptor_ = descriptor;
    return socket;
}

NetlinkSocket::~NetlinkSocket() {
    if (descriptor_ >= 0) close(descriptor_);
}

NetlinkSocket::NetlinkSocket(NetlinkSocket&& other) noexcept
    : descriptor_(other.descriptor_), sequence_(other.sequence_) {
    other.descriptor_ = -1;
}

NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&& other) noexcept {
    if (this != &other) {
        if (descriptor_ >= 0) close(descriptor_);
        descriptor_ = other.descriptor_;
        sequence_ = other.sequence_;
        other.descriptor_ = -1;
    }
    return *this;
}

void NetlinkSocket::send(std::span<uint8_t> request) {
    auto* header = reinterpret_cast<nlmsghdr*>(request.data());
    header->nlmsg_seq = ++sequence_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(descriptor_, request.data(), request.size(), 0,
               reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
        throw std::system_error(errno, std::generic_category(), "netlink send");
    }
}

bool NetlinkSocket::request(std::span<uint8_t> request, const Visit& visit) {
    send(request);
    std::vector<uint8_t> buffer(kReceiveBufferSize);
    for (;;) {
        ssize_t length = recv(descriptor_, buffer.data(), buffer.size(), 0);
        if (length < 0) {
            // ENOBUFS: a subscribed socket lost notifications, reported once by the next read.
            if (errno == EINTR || errno == ENOBUFS) continue;
            throw std::system_error(errno, std::generic_category(), "netlink receive");
        }
        int remaining = static_cast<int>(length);
        bool answered = false;
        for (auto* message = reinterpret_cast<nlmsghdr*>(buffer.data());
             NLMSG_OK(message, remaining); message = NLMSG_NEXT(message, remaining)) {
            if (message->nlmsg_seq != sequence_) continue;
            answered = true;
            if (message->nlmsg_type == NLMSG_ERROR) {
                auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(message));
                if (error->error == 0) continue;
                if (error->error == -ENOENT) return false;
                throw std::system_error(-error->error, std::generic_category(),
                                        "netlink request");
            }
            visit(*message);
        }
        if (answered) return true;
    }
}

void NetlinkSocket::dump(std::span<uint8_t> request, const Visit& visit) {
    send(request);

    std::vector<uint8_t> buffer(kReceiveBufferSize);
    for (;;) {
        ssize_t length = recv(descriptor_, buffer.data(), buffer.size(), 0);
        if (length < 0) {
            if (errno == EINTR || errno == ENOBUFS) continue;
            throw std::system_error(errno, std::generic_category(), "netlink receive");
        }
        int remaining = static_cast<int>(length);
        for (auto* message = reinterpret_cast<nlmsghdr*>(buffer.data());
             NLMSG_OK(message, remaining); message = NLMSG_NEXT(message, remaining)) {
            // Notifications that arrive on a subscribed socket carry sequence 0: skip them.
            if (message->nlmsg_seq != sequence_) continue;
            if (message->nlmsg_type == NLMSG_DONE) return;
            if (message->nlmsg_type == NLMSG_ERROR) {
                auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(message));
                if (error->error == 0) return;
                throw std::system_error(-error->error, std::generic_category(), "netlink dump");
            }
            visit(*message);
        }
    }
}

bool NetlinkSocket::receive(const Visit& visit) {
    std::vector<uint8_t> buffer(kReceiveBufferSize);
    ssize_t length = recv(descriptor_, buffer.data(), buffer.size(), 0);
    if (length <= 0) return false;
    int remaining = static_cast<int>(length);
    for (auto* message = reinterpret_cast<nlmsghdr*>(buffer.data()); NLMSG_OK(message, remaining);
         message = NLMSG_NEXT(message, remaining)) {
        visit(*message);
    }
    return true;
}

}  // namespace pw::host
