#include "pipeline/tunnels.h"

#include <algorithm>

namespace pw::pipeline {
namespace {

constexpr uint16_t kTeredoPort = 3544;
constexpr size_t kIpv6HeaderLength = 40;

// The length of the IPv6 packet that `data` starts with, header included, or 0 when
// `data` does not start with an IPv6 header.
size_t ipv6_packet_length(std::span<const uint8_t> data) {
    if (data.size() < kIpv6HeaderLength || (data[0] >> 4) != 6) return 0;
    return kIpv6HeaderLength + (static_cast<size_t>(data[4]) << 8 | data[5]);
}

// RFC 4380 section 5.1.1: an optional authentication header (0x0001, client id length,
// authentication value length, their bytes, an 8-byte nonce and a confirmation byte) and
// an optional origin indication (0x0000 and 6 bytes) may precede the IPv6 packet.
std::span<const uint8_t> teredo_headers_skipped(std::span<const uint8_t> data) {
    if (data.size() >= 4 && data[0] == 0x00 && data[1] == 0x01) {
        size_t header = 4 + static_cast<size_t>(data[2]) + data[3] + 8 + 1;
        if (header > data.size()) return {};
        data = data.subspan(header);
    }
    if (data.size() >= 8 && data[0] == 0x00 && data[1] == 0x00) data = data.subspan(8);
    return data;
}

bool is_teredo(const decode::Packet& packet) {
    return packet.ip_protocol == decode::ip_protocol::kUdp &&
           (packet.source_port == kTeredoPort || packet.target_port == kTeredoPort);
}

}  // namespace

std::span<const uint8_t> udp_tunnel_payload(const decode::Packet& packet) {
    if (!is_teredo(packet)) return {};
    std::span<const uint8_t> data = teredo_headers_skipped(packet.payload);
    const size_t length = ipv6_packet_length(data);
    return length != 0 && length == data.size() ? data : std::span<const uint8_t>{};
}

std::span<const uint8_t> udp_tunnel_start(const decode::Packet& packet, uint32_t& length) {
    if (!is_teredo(packet)) return {};
    std::span<const uint8_t> data = teredo_headers_skipped(packet.payload);
    length = static_cast<uint32_t>(ipv6_packet_length(data));
    if (length == 0) return {};
    return data.first(std::min<size_t>(data.size(), length));
}

}  // namespace pw::pipeline
