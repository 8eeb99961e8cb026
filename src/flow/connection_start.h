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

// How long an established connection stays quiet before a SYN of another ISN outside the
// receiver's window counts as a new connection by itself. Before that, the responder's
// SYN-ACK to it has to show it (syn_ack_starts_new_connection()). An estimate, as above.
inline constexpr int64_t kQuietConnectionSynIdleUs = 60'000'000;

// Returns true when a SYN without ACK from `side`, with sequence number `seq`, opens a new
// connection on the ports of the connection that `tcp` describes, which has been idle for
// `idle_us`, rather than belonging to it. A SYN belongs to the connection when it repeats
// the sender's ISN, or comes before any reply and less than kUnansweredSynIdleUs after the
// last packet. It also belongs when the responder of a connection whose handshake was seen
// sends it (a simultaneous open, or forged), and when it comes on an established connection
// less than kQuietConnectionSynIdleUs after the last packet. A receiver replies to such a
// SYN with a challenge ACK and keeps the connection (RFC 5961, section 4), so a forged one
// changes nothing. A client that really reconnects resets the old connection or gets a
// SYN-ACK for its SYN. After that idle time a SYN still belongs when it falls inside the
// receiver's window.
bool syn_starts_new_connection(const TcpState& tcp, Side side, uint32_t seq, int64_t idle_us);

// Returns true when a SYN-ACK from `side`, with sequence number `seq` and acknowledgment
// `ack`, opens a new connection on the ports of the established connection that `tcp`
// describes: the responder acknowledges the last SYN of another ISN that the initiator
// sent (TcpState::other_syn), with another ISN than its own first one. A responder sends
// it to a client that connects again on the same ports after the responder dropped the
// old connection. A SYN-ACK that acknowledges no such SYN is forged or stray.
bool syn_ack_starts_new_connection(const TcpState& tcp, Side side, uint32_t seq, uint32_t ack);

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
