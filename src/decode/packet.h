#pragma once

#include <array>
#include <cstdint>
#include <cstring>
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

    static IpAddress v4(const uint8_t* four_bytes) {
        IpAddress address;
        std::memcpy(address.bytes.data(), four_bytes, 4);
        return address;
    }
    static IpAddress v6(const uint8_t* sixteen_bytes) {
        IpAddress address;
        std::memcpy(address.bytes.data(), sixteen_bytes, 16);
        address.is_v6 = true;
        return address;
    }
    // Sets the address in place. The decoder uses these rather than assigning v4() or
    // v6(), because GCC 12 copied that temporary with a 16-byte load right after storing 4
    // of its bytes. The store buffer cannot forward such a load, so it stalled.
    void set_v4(const uint8_t* four_bytes) {
        bytes.fill(0);
        std::memcpy(bytes.data(), four_bytes, 4);
        is_v6 = false;
    }
    void set_v6(const uint8_t* sixteen_bytes) {
        std::memcpy(bytes.data(), sixteen_bytes, 16);
        is_v6 = true;
    }
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

// The lower-case name of a transport the flow table tracks, or its number for another.
inline std::string name(uint8_t number) {
    switch (number) {
        case kIcmp:
            return "icmp";
        case kIgmp:
            return "igmp";
        case kTcp:
            return "tcp";
        case kUdp:
            return "udp";
        case kIcmpv6:
            return "icmpv6";
        default:
            return std::to_string(number);
    }
}
}  // namespace ip_protocol

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
}  // namespace tcp_flag

// Packet::window_scale of a segment without a window scale option.
inline constexpr uint8_t kNoWindowScale = 0xFF;

// One packet decoded down to its transport payload. For a tunnelled packet (GRE, GTP-U,
// VXLAN, IP in IP...) the addresses and ports are those of the innermost IP packet.
//
// What counts as payload:
// - TCP: the bytes after the TCP header (options included in the header).
// - UDP: the bytes after the 8-byte UDP header, up to the UDP length.
// - ICMP, ICMPv6 and IGMP: the bytes after the message's first 8 bytes (type, code,
//   checksum and the 4 bytes that depend on the type), whatever the type. So a 64-byte
//   echo request counts 56, an 8-byte IGMPv2 report 0, an IGMPv3 report with one group
//   record 8, an ICMP error quoting a 20-byte IP header and 8 bytes 28, an MLDv2 report
//   with one record 20. This is the rule that gives the reference's (Wireshark's) byte
//   counts for the ICMP, ICMPv6 and IGMP flows of the labelled corpus.
//
// Lengths: where a length field claims more than its enclosing layer holds (an IPv4 total
// length or IPv6 payload length longer than the frame, a UDP length longer than the IP
// payload), the decoder counts the anomaly, keeps to what the enclosing layer holds and
// still returns the packet, as Wireshark does. The one exception is the first fragment of
// a datagram that was not captured whole: it is decoded alone (reassembly could never
// complete it) and its payload_length is the UDP length of the whole datagram.
struct Packet {
    int64_t time_us = 0;  // capture timestamp, microseconds since the epoch
    // Length on the wire of the frame; for a tunnelled packet, of the innermost frame
    // (from the inner Ethernet or IP header on); for a reassembled IP datagram, of the
    // datagram (the first fragment's IP header and the whole payload).
    uint32_t wire_length = 0;
    // VLAN ids: outer << 12 | inner, 0 when untagged. One tag gives its id; each further
    // tag shifts the ids before it left by 12, keeping the innermost two (24 bits). Tags
    // of an Ethernet frame inside a tunnel count as well.
    uint32_t vlan = 0;

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
    // The shift count of a SYN's window scale option (RFC 7323, section 2.2), at most 14.
    // kNoWindowScale without the option, and for every segment that is not a SYN.
    uint8_t window_scale = kNoWindowScale;
    // The snapshot length cut the TCP header after the ports. The flags are set when they
    // were captured, the other TCP fields are 0, and the payload's length assumes a header
    // without options when the data offset is missing.
    bool tcp_header_cut = false;

    // ICMP, ICMPv6 and IGMP: the message's first two bytes (for IGMP, the type and the
    // maximum response time or code)
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
