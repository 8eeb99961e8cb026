#include "process/sock_diag.h"

#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

namespace pw::process {
namespace {

// Every TCP state bit (1 << TCP_ESTABLISHED ... 1 << TCP_NEW_SYN_RECV).
constexpr uint32_t kAllStates = 0xFFFFFFFF;

uint16_t port_of(__be16 value) { return ntohs(value); }

decode::IpAddress address_of(int family, const __be32* words) {
    auto* bytes = reinterpret_cast<const uint8_t*>(words);
    if (family == AF_INET) return decode::IpAddress::v4(bytes);
    // ::ffff:a.b.c.d is an IPv4 peer of a dual-stack socket.
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (std::memcmp(bytes, kMappedPrefix, sizeof kMappedPrefix) == 0) {
        return decode::IpAddress::v4(bytes + 12);
    }
    return decode::IpAddress::v6(bytes);
}

SocketEntry entry_of(const nlmsghdr& message, uint8_t ip_protocol) {
    auto* diag = static_cast<const inet_diag_msg*>(NLMSG_DATA(&message));
    SocketEntry entry;
    entry.ip_protocol = ip_protocol;
    entry.local = address_of(diag->idiag_family, diag->id.idiag_src);
    entry.local_port = port_of(diag->id.idiag_sport);
    entry.remote = address_of(diag->idiag_family, diag->id.idiag_dst);
    entry.remote_port = port_of(diag->id.idiag_dport);
    entry.state = diag->idiag_state;
    entry.uid = diag->idiag_uid;
    entry.inode = diag->idiag_inode;
    return entry;
}

bool is_diag_reply(const nlmsghdr& message) {
    return message.nlmsg_type == SOCK_DIAG_BY_FAMILY &&
           message.nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg));
}

void list_family(host::NetlinkSocket& socket, uint8_t ip_protocol, uint8_t family,
                 uint32_t states, std::vector<SocketEntry>& result) {
    struct {
        nlmsghdr header;
        inet_diag_req_v2 body;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    request.body.sdiag_family = family;
    request.body.sdiag_protocol = ip_protocol;
    request.body.idiag_states = states;
    socket.dump({reinterpret_cast<uint8_t*>(&request), sizeof request},
                [&](const nlmsghdr& message) {
                    if (is_diag_reply(message)) result.push_back(entry_of(message, ip_protocol));
                });
}

}  // namespace

std::vector<SocketEntry> list_sockets(host::NetlinkSocket& socket, uint8_t only, Listing scope) {
    std::vector<SocketEntry> result;
    for (uint8_t ip_protocol : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
        if (only != 0 && only != ip_protocol) continue;
        // UDP sockets report the states 1 (connected) and 7 (unconnected), and both pass.
        uint32_t states = kAllStates;
        if (scope == Listing::kHeld && ip_protocol == IPPROTO_TCP) {
            states &= ~((uint32_t{1} << kTcpTimeWait) | (uint32_t{1} << kTcpNewSynRecv));
        }
        for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
            list_family(socket, ip_protocol, family, states, result);
        }
    }
    return result;
}

std::optional<SocketEntry> find_socket(host::NetlinkSocket& socket, uint8_t ip_protocol,
                                       const decode::IpAddress& local, uint16_t local_port,
                                       const decode::IpAddress& remote, uint16_t remote_port) {
    struct {
        nlmsghdr header;
        inet_diag_req_v2 body;
    } request{};
    request.header.nlmsg_len = sizeof request;
    request.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    request.header.nlmsg_flags = NLM_F_REQUEST;
    request.body.sdiag_family = local.is_v6 ? AF_INET6 : AF_INET;
    request.body.sdiag_protocol = ip_protocol;
    request.body.idiag_states = kAllStates;
    inet_diag_sockid& id = request.body.id;
    // TCP's lookup takes the socket's own endpoint as the source. UDP's takes the endpoints
    // of a datagram the socket would receive, so there the remote end is the source
    // (udp_dump_one in the kernel's net/ipv4/udp_diag.c).
    bool udp = ip_protocol == IPPROTO_UDP;
    const decode::IpAddress& source = udp ? remote : local;
    const decode::IpAddress& target = udp ? local : remote;
    id.idiag_sport = htons(udp ? remote_port : local_port);
    id.idiag_dport = htons(udp ? local_port : remote_port);
    std::memcpy(id.idiag_src, source.bytes.data(), source.is_v6 ? 16 : 4);
    std::memcpy(id.idiag_dst, target.bytes.data(), target.is_v6 ? 16 : 4);
    // No cookie: match by the endpoints alone.
    id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
    id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    std::optional<SocketEntry> found;
    socket.request({reinterpret_cast<uint8_t*>(&request), sizeof request},
                   [&](const nlmsghdr& message) {
                       if (is_diag_reply(message)) found = entry_of(message, ip_protocol);
                   });
    return found;
}

const char* socket_state_name(uint8_t ip_protocol, uint8_t state) {
    if (ip_protocol == IPPROTO_UDP) return state == 1 ? "ESTAB" : "UNCONN";
    // The order of the kernel's TCP states, from TCP_ESTABLISHED (1) to TCP_NEW_SYN_RECV.
    static constexpr const char* kNames[] = {"UNKNOWN",  "ESTAB",     "SYN-SENT",  "SYN-RECV",
                                             "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSED",
                                             "CLOSE-WAIT", "LAST-ACK",  "LISTEN",    "CLOSING",
                                             "NEW-SYN-RECV"};
    return state < std::size(kNames) ? kNames[state] : "UNKNOWN";
}

}  // namespace pw::process
