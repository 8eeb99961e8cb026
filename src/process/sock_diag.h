#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "decode/packet.h"
#include "host/netlink.h"

namespace pw::process {

// One TCP or UDP socket as the kernel's socket diagnostics (sock_diag(7), inet_diag)
// report it. IPv4-mapped IPv6 addresses are given as IPv4, as packets carry them.
struct SocketEntry {
    uint8_t ip_protocol = 0;  // IPPROTO_TCP or IPPROTO_UDP
    decode::IpAddress local;
    uint16_t local_port = 0;
    decode::IpAddress remote;  // all zero for a listening or unconnected socket
    uint16_t remote_port = 0;
    uint8_t state = 0;  // TCP state (TCP_ESTABLISHED, TCP_LISTEN...); UDP: 7 unconnected
    uint32_t uid = 0;
    uint64_t inode = 0;  // 0 for sockets no file refers to (TIME_WAIT, SYN_RECV)
};

// TCP states, from the kernel's include/net/tcp_states.h.
inline constexpr uint8_t kTcpTimeWait = 6;
inline constexpr uint8_t kTcpListen = 10;
inline constexpr uint8_t kTcpNewSynRecv = 12;

// The sockets a listing returns.
enum class Listing {
    kAll,
    // All but TCP's TIME-WAIT and NEW-SYN-RECV sockets, which no process holds. A burst of
    // short connections leaves thousands of them behind, and a listing of them all took
    // about 10 ms each time.
    kHeld,
};

// Lists the TCP and UDP sockets, IPv4 and IPv6, of the network namespace `socket` was
// opened in (a NETLINK_SOCK_DIAG socket); only those of `ip_protocol` unless it is 0.
// Throws std::system_error.
std::vector<SocketEntry> list_sockets(host::NetlinkSocket& socket, uint8_t ip_protocol = 0,
                                      Listing scope = Listing::kAll);

// Looks up the one socket with these local and remote endpoints, as the kernel's exact
// lookup finds it (a connected socket first, else a bound one). Cheaper than a listing:
// the kernel answers with one message. Throws std::system_error.
std::optional<SocketEntry> find_socket(host::NetlinkSocket& socket, uint8_t ip_protocol,
                                       const decode::IpAddress& local, uint16_t local_port,
                                       const decode::IpAddress& remote, uint16_t remote_port);

// A readable name for a TCP state, as `ss` prints it ("ESTAB", "LISTEN"...); "UNCONN" for
// an unconnected UDP socket.
const char* socket_state_name(uint8_t ip_protocol, uint8_t state);

}  // namespace pw::process
