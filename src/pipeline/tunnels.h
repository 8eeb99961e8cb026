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

}  // namespace pw::pipeline
