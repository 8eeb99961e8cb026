#pragma once

// Internal to the decoder: what one layer's decoder is handed, and the decoders of each
// layer. The dispatch tables that pick among them are in decoder.cpp.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "decode/decoder.h"
#include "decode/reader.h"

namespace pw::decode {
class FragmentReassembler;
}

namespace pw::decode::detail {

// The deepest that tunnels may nest (GRE in GRE in ...). One more is counted as
// tunnel_nesting_too_deep, and the frame is not tracked. Real networks nest a few, and a
// low bound would let a sender hide a connection behind one more header. Each level costs
// a header's bytes of the frame, so the decoding work stays bounded by the frame's size.
inline constexpr int kMaxTunnelDepth = 16;
// How many link headers (VLAN tags, MPLS labels, capture pseudo-headers) one frame may
// have; a stack deeper than this is hostile, not real.
inline constexpr int kMaxLinkHeaders = 16;
// How many IPv6 extension headers (and IPv4 AH headers) one IP header may be followed by;
// one more is counted as too_many_ipv6_extension_headers, and the packet is not tracked.
// In a test, Linux 6.18 answered a SYN behind 9 Destination Options headers, so a bound of
// 8 hid such a connection whole. Each header takes at least 8 bytes of the frame, so the
// work stays bounded by the frame's size.
inline constexpr int kMaxIpExtensions = 64;

// The bytes of one layer: those captured, and how long the layer was on the wire. `wire`
// is never less than `length`; it is more when the snapshot length cut the frame.
//
// Its 16 bytes (a pointer and two 32-bit lengths) are passed in two registers from layer
// to layer. As a std::span and a length (24 bytes) it went through the stack, where a
// 16-byte load right after the stores of its parts stalled on store forwarding. The
// captured length fits in 32 bits as the wire length does, since a frame or a reassembled
// datagram is far shorter than 4 GiB.
struct Bytes {
    Bytes() = default;
    Bytes(std::span<const uint8_t> captured_bytes, uint32_t wire_length)
        : start(captured_bytes.data()),
          length(static_cast<uint32_t>(captured_bytes.size())),
          wire(wire_length) {}

    std::span<const uint8_t> data() const { return {start, length}; }
    ByteReader reader() const { return ByteReader(data()); }
    size_t captured() const { return length; }
    bool cut() const { return length < wire; }

    // The layer after its first `count` bytes (empty when it has fewer).
    Bytes after(size_t count) const {
        Bytes rest;
        if (count < length) {
            rest.start = start + count;
            rest.length = static_cast<uint32_t>(length - count);
        }
        rest.wire = count < wire ? static_cast<uint32_t>(wire - count) : 0;
        return rest;
    }
    // The layer's first `wire_length` bytes on the wire: drops padding after an IP packet.
    Bytes first(uint32_t wire_length) const {
        Bytes head;
        head.wire = wire_length < wire ? wire_length : wire;
        head.start = start;
        head.length = head.wire < length ? head.wire : length;
        return head;
    }

    const uint8_t* start = nullptr;  // the captured bytes
    uint32_t length = 0;             // how many bytes were captured
    uint32_t wire = 0;               // the layer's length on the wire
};

// State carried down the layers of one frame.
struct Context {
    Packet& out;
    AnomalyCounters& anomalies;
    FragmentReassembler& fragments;
    int64_t time_us = 0;
    int tunnels = 0;              // tunnel headers unwrapped so far
    int link_headers = 0;         // VLAN tags, MPLS labels and pseudo-headers read so far
    int ip_extensions = 0;        // IPv6 extension headers and AH headers of the current IP header
    bool ip_incomplete = false;   // the current IP packet was not captured whole
    bool first_fragment = false;  // the transport is that of a first fragment, alone
    bool addresses_only = false;  // reassemble nothing (Decoder::addresses)
    FragmentPlace* fragment_place = nullptr;  // Decoder::addresses()' report of a fragment

    DecodeResult malformed(Anomaly anomaly) {
        anomalies.add(anomaly);
        return DecodeResult::kMalformed;
    }
    // Counts one more link header; false (and the anomaly counted) past the limit.
    bool next_link_header(Anomaly anomaly) {
        if (++link_headers <= kMaxLinkHeaders) return true;
        anomalies.add(anomaly);
        return false;
    }
};

using LayerDecoder = DecodeResult (*)(Context&, Bytes);

// Dispatch (decoder.cpp).
DecodeResult decode_link(Context& ctx, int linktype, Bytes bytes);
DecodeResult decode_ethertype(Context& ctx, uint16_t ethertype, Bytes bytes);
DecodeResult decode_ip_protocol(Context& ctx, uint8_t protocol, Bytes bytes);
DecodeResult decode_ppp_protocol(Context& ctx, uint16_t protocol, Bytes bytes);
// A UDP payload that is a tunnel (GTP-U, VXLAN, Geneve, CAPWAP): the result of decoding
// what it carries, or nullopt when the payload is not one and the packet stays UDP.
std::optional<DecodeResult> decode_udp_tunnel(Context& ctx, uint16_t source_port,
                                              uint16_t target_port, Bytes payload);
// Enters one more tunnel level whose inner frame is `inner`: false (tunnel_too_deep
// counted) when tunnels already nest kMaxTunnelDepth deep.
bool enter_tunnel(Context& ctx, Bytes inner);

// Link layers (link.cpp).
DecodeResult decode_ethernet(Context& ctx, Bytes bytes);
DecodeResult decode_vlan(Context& ctx, Bytes bytes);
DecodeResult decode_mpls(Context& ctx, Bytes bytes);
DecodeResult decode_linux_sll(Context& ctx, Bytes bytes);
DecodeResult decode_linux_sll2(Context& ctx, Bytes bytes);
DecodeResult decode_loopback(Context& ctx, Bytes bytes);
DecodeResult decode_raw_ip(Context& ctx, Bytes bytes);
DecodeResult decode_macsec(Context& ctx, Bytes bytes);
DecodeResult decode_cisco_metadata(Context& ctx, Bytes bytes);

// Rarer link types (link_rare.cpp).
DecodeResult decode_fddi(Context& ctx, Bytes bytes);
DecodeResult decode_token_ring(Context& ctx, Bytes bytes);
DecodeResult decode_ipoib(Context& ctx, Bytes bytes);
DecodeResult decode_arcnet_linux(Context& ctx, Bytes bytes);
DecodeResult decode_ipnet(Context& ctx, Bytes bytes);
DecodeResult decode_nflog(Context& ctx, Bytes bytes);
DecodeResult decode_pktap(Context& ctx, Bytes bytes);

// PPP and HDLC (ppp.cpp).
DecodeResult decode_ppp(Context& ctx, Bytes bytes);
DecodeResult decode_ppp_hdlc(Context& ctx, Bytes bytes);
DecodeResult decode_cisco_hdlc(Context& ctx, Bytes bytes);
DecodeResult decode_pppoe_session(Context& ctx, Bytes bytes);

// 802.11 and its capture headers (wifi.cpp).
DecodeResult decode_ieee80211(Context& ctx, Bytes bytes);
// `data_pad`: the header is padded to 4 bytes (radiotap's flag). `maybe_swapped`: the
// frame control bytes may be in the wrong order, as Cisco's CAPWAP access points send it.
DecodeResult decode_ieee80211_frame(Context& ctx, Bytes bytes, bool data_pad, bool maybe_swapped);
DecodeResult decode_radiotap(Context& ctx, Bytes bytes);
DecodeResult decode_ppi(Context& ctx, Bytes bytes);
// An 802.2 LLC header with SNAP, as 802.3, 802.11 and FDDI frames carry before IP.
DecodeResult decode_llc_snap(Context& ctx, Bytes bytes);

// IP (ip.cpp).
DecodeResult decode_ipv4(Context& ctx, Bytes bytes);
DecodeResult decode_ipv6(Context& ctx, Bytes bytes);
DecodeResult decode_ah(Context& ctx, Bytes bytes);

// Transports (transport.cpp).
DecodeResult decode_tcp(Context& ctx, Bytes bytes);
DecodeResult decode_udp(Context& ctx, Bytes bytes);
DecodeResult decode_icmp(Context& ctx, Bytes bytes);
DecodeResult decode_icmpv6(Context& ctx, Bytes bytes);
DecodeResult decode_igmp(Context& ctx, Bytes bytes);
// Decodes a packet of an IP protocol without a decoder of its own, such as SCTP, ESP, OSPF
// or VRRP. Its flow is its two addresses without ports, and its payload is all that follows
// the IP header.
DecodeResult decode_other_protocol(Context& ctx, uint8_t protocol, Bytes bytes);

// Tunnels (tunnel.cpp).
DecodeResult decode_gre(Context& ctx, Bytes bytes);
DecodeResult decode_ipv4_in_ip(Context& ctx, Bytes bytes);
DecodeResult decode_ipv6_in_ip(Context& ctx, Bytes bytes);
DecodeResult decode_ethernet_in_ip(Context& ctx, Bytes bytes);
DecodeResult decode_pim(Context& ctx, Bytes bytes);
std::optional<DecodeResult> decode_ayiya(Context& ctx, Bytes payload);
std::optional<DecodeResult> decode_gtp_u(Context& ctx, Bytes payload);
std::optional<DecodeResult> decode_l2tp(Context& ctx, Bytes payload);
std::optional<DecodeResult> decode_vxlan(Context& ctx, Bytes payload);
// VXLAN on Linux's default port, 8472, with a stricter check of the header.
std::optional<DecodeResult> decode_vxlan_linux_port(Context& ctx, Bytes payload);
std::optional<DecodeResult> decode_geneve(Context& ctx, Bytes payload);
std::optional<DecodeResult> decode_capwap_data(Context& ctx, Bytes payload);

}  // namespace pw::decode::detail
