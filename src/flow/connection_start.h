#pragma once

// Where a connection starts and which end starts it, for the transports whose packets show
// it. A TCP SYN may open a new connection on the ports of an open one, and an ICMP or
// ICMPv6 request shows which end initiated the exchange.

#include <cstdint>

#include "decode/packet.h"
#include "flow/flow.h"

namespace pw::flow {

// How long an unanswered connection attempt stays quiet before a SYN of another ISN counts
// as a new attempt. An estimate: stacks retransmit a SYN at intervals that double from 1 s
// (RFC 6298, sections 2 and 5), and give up within about a minute or two.
inline constexpr int64_t kUnansweredSynIdleUs = 60'000'000;

// Returns true when a SYN without ACK from `side`, with sequence number `seq`, opens a new
// connection on the ports of the connection that `tcp` describes, which has been idle for
// `idle_us`, rather than belonging to it. A SYN belongs to the connection when it repeats
// the sender's ISN, or comes before any reply and less than kUnansweredSynIdleUs after the
// last packet. It also belongs when the responder of a connection whose handshake was seen
// sends it (a simultaneous open, or forged), and when it falls inside the receiver's window
// of an established connection, which handles it within the connection.
bool syn_starts_new_connection(const TcpState& tcp, Side side, uint32_t seq, int64_t idle_us);

// The part an ICMP or ICMPv6 message plays in its exchange. A request's sender initiates
// the exchange. A response (a reply, or an error about a packet the receiver sent) comes
// from the responder. Other messages (announcements, unknown types) do not show either.
enum class IcmpRole : uint8_t { kRequest, kResponse, kOther };

// Returns the role of a message of `type` of transport `ip_protocol` (ICMP or ICMPv6), or
// kOther for other transports.
IcmpRole icmp_role(uint8_t ip_protocol, uint8_t type);

// Returns true for an IPv4 or IPv6 multicast address and for the IPv4 limited broadcast
// address, which receive but never send.
bool is_group_address(const decode::IpAddress& address);

}  // namespace pw::flow
