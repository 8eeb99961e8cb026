#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace pw::decode {

enum class Anomaly : uint8_t {
#define ANOMALY(enumerator, name) enumerator,
#include "decode/anomaly.inc"
#undef ANOMALY
    kCount
};

// The name of an anomaly as logs and the summary print it.
const char* anomaly_name(Anomaly anomaly);

// An IPv4 or IPv6 address. IPv4 addresses are stored in the first four bytes and the rest
// is zero, so that two addresses compare equal exactly when they are the same address.
struct IpAddress {
    std::array<uint8_t, 16> bytes{};
    bool is_v6 = false;

    static IpAddress v4(const uint8_t* four_bytes);
    static IpAddress v6(const uint8_t* sixteen_bytes);
    std::string to_string() const;
    bool operator==(const IpAddress&) const = default;
    auto operator<=>(const IpAddress&) const = default;
};

// IP protocol numbers the pipeline tracks as flows.
namespace ip_protocol {
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kIgmp = 2;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kIcmpv6 = 58;
}  // namespace ip_protocol

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flag

// One packet decoded down to its transport payload. For a tunnelled packet (GRE, GTP-U,
// VXLAN, IP in IP...) the addresses and ports are those of the innermost IP packet.
struct Packet {
    int64_t time_us = 0;       // capture timestamp, microseconds since the epoch
    uint32_t wire_length = 0;  // length of the frame on the wire
    uint32_t vlan = 0;         // VLAN ids: outer << 12 | inner, 0 when untagged

    IpAddress source;
    IpAddress target;
    uint8_t ip_protocol = 0;
    uint16_t source_port = 0;  // 0 for transports without ports
    uint16_t target_port = 0;

    // TCP
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t tcp_flags = 0;
    uint16_t window = 0;

    // ICMP, ICMPv6 and IGMP
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;

    // The transport payload as captured. It can be shorter than payload_length when the
    // capture's snapshot length cut the frame. For a reassembled IP datagram it points into
    // the decoder's buffer and stays valid until the next call to the decoder.
    std::span<const uint8_t> payload;
    // Length of the transport payload on the wire, from the IP and transport lengths.
    uint32_t payload_length = 0;
};

}  // namespace pw::decode
