#include "pipeline/tunnels.h"

namespace pw::pipeline {
namespace {

constexpr uint16_t kTeredoPort = 3544;
constexpr size_t kIpv6HeaderLength = 40;

bool is_whole_ipv6_packet(std::span<const uint8_t> data) {
    if (data.size() < kIpv6HeaderLength || (data[0] >> 4) != 6) return false;
    size_t payload_length = static_cast<size_t>(data[4]) << 8 | data[5];
    return kIpv6HeaderLength + payload_length == data.size();
}

// RFC 4380 section 5.1.1: an optional authentication header (0x0001, client id length,
// authentication value length, their bytes, an 8-byte nonce and a confirmation byte) and
// an optional origin indication (0x0000 and 6 bytes) may precede the IPv6 packet.
std::span<const uint8_t> teredo_payload(std::span<const uint8_t> data) {
    if (data.size() >= 4 && data[0] == 0x00 && data[1] == 0x01) {
        size_t header = 4 + static_cast<size_t>(data[2]) + data[3] + 8 + 1;
        if (header > data.size()) return {};
        data = data.subspan(header);
    }
    if (data.size() >= 8 && data[0] == 0x00 && data[1] == 0x00) data = data.subspan(8);
    return is_whole_ipv6_packet(data) ? data : std::span<const uint8_t>{};
}

}  // namespace

std::span<const uint8_t> udp_tunnel_payload(const decode::Packet& packet) {
    if (packet.ip_protocol != decode::ip_protocol::kUdp) return {};
    if (packet.source_port != kTeredoPort && packet.target_port != kTeredoPort) return {};
    return teredo_payload(packet.payload);
}

}  // namespace pw::pipeline
