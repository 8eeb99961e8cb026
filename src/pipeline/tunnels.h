#pragma once

#include <cstdint>
#include <span>

#include "decode/packet.h"

namespace pw::pipeline {

// Returns the IPv6 packet that a Teredo datagram (RFC 4380, UDP port 3544) carries, or an
// empty span when `packet` is not one. Teredo is tracked as two flows, unlike the tunnels
// the decoder unwraps: the outer UDP flow is a host's own connection to its Teredo server
// or relay, and the IPv6 packet inside is a flow of its own.
std::span<const uint8_t> udp_tunnel_payload(const decode::Packet& packet);

// Returns the captured start of the IPv6 packet that a Teredo datagram carries, like
// udp_tunnel_payload(), when `packet` may contain only the datagram's start (its first IP
// fragment, say). The start contains at least the IPv6 fixed header, and `length` is set
// to the whole packet's length as that header gives it. Returns an empty span when the
// start is not that of an IPv6 packet.
std::span<const uint8_t> udp_tunnel_start(const decode::Packet& packet, uint32_t& length);

}  // namespace pw::pipeline
