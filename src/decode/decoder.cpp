// The decoder's entry point and its dispatch tables: link type, EtherType (and PPP
// protocol), IP protocol and UDP port to the decoder of the next layer. Adding a layer is
// writing its function and one line here.

#include "decode/decoder.h"

#include <pcap/dlt.h>

#include <algorithm>
#include <array>
#include <utility>

#include "decode/fragments.h"
#include "decode/layers.h"

namespace pw::decode {

namespace detail {

namespace {

template <typename Key>
struct Route {
    Key key;
    LayerDecoder decoder;
};

// libpcap's DLT_ values, which differ between systems for raw IP and loopback: the first
// entry with a value wins, so DLT_LOOP is loopback where it is 12 and raw IP elsewhere.
constexpr Route<int> kLinkTypes[] = {
    {DLT_NULL, decode_loopback},
    {DLT_EN10MB, decode_ethernet},
    {DLT_FDDI, decode_fddi},
    {DLT_IEEE802, decode_token_ring},
    {DLT_PPP, decode_ppp},
    {DLT_RAW, decode_raw_ip},
    {DLT_PPP_SERIAL, decode_ppp_hdlc},
    {DLT_PPP_ETHER, decode_pppoe_session},
    {DLT_C_HDLC, decode_cisco_hdlc},
    {DLT_IEEE802_11, decode_ieee80211},
    {DLT_LOOP, decode_loopback},
    {DLT_LINUX_SLL, decode_linux_sll},
    {DLT_ARCNET_LINUX, decode_arcnet_linux},
    {DLT_IEEE802_11_RADIO, decode_radiotap},
    {DLT_PPI, decode_ppi},
    // The version nibble decides: captures labelled IPv4 that carry IPv6 exist.
    {DLT_IPV4, decode_raw_ip},
    {DLT_IPV6, decode_raw_ip},
    {DLT_IPNET, decode_ipnet},
    {DLT_NFLOG, decode_nflog},
    {DLT_PKTAP, decode_pktap},
    {DLT_LINUX_SLL2, decode_linux_sll2},
    {DLT_IPOIB, decode_ipoib},
    // Raw IP under LINKTYPE_RAW and both DLT_RAW values (12 on most systems, 14 on some
    // BSDs), in case a caller passes what a file or another system says.
    {101, decode_raw_ip},
    {12, decode_raw_ip},
    {14, decode_raw_ip},
    // macOS's own value for PKTAP (DLT_USER2), which its captures carry.
    {149, decode_pktap},
};

constexpr Route<uint16_t> kEthertypes[] = {
    {0x0800, decode_ipv4},
    {0x86DD, decode_ipv6},
    {0x8100, decode_vlan},  // 802.1Q
    {0x88A8, decode_vlan},  // 802.1ad, the outer tag of QinQ
    {0x9100, decode_vlan},  // pre-standard QinQ
    {0x9200, decode_vlan},
    {0x8847, decode_mpls},  // unicast
    {0x8848, decode_mpls},  // multicast
    {0x8864, decode_pppoe_session},
    {0x6558, decode_ethernet},  // transparent Ethernet bridging (GRE, Geneve)
    {0x88E5, decode_macsec},
    {0x8909, decode_cisco_metadata},
};

constexpr Route<uint16_t> kPppProtocols[] = {
    {0x0021, decode_ipv4},
    {0x0057, decode_ipv6},
    {0x0281, decode_mpls},
};

using UdpTunnel = std::optional<DecodeResult> (*)(Context&, Bytes);
constexpr std::pair<uint16_t, UdpTunnel> kUdpTunnels[] = {
    {1701, decode_l2tp},
    {2152, decode_gtp_u},
    {4789, decode_vxlan},
    {5072, decode_ayiya},
    {5247, decode_capwap_data},
    {6081, decode_geneve},
    {8472, decode_vxlan_linux_port},
};

constexpr std::array<LayerDecoder, 256> make_ip_protocols() {
    std::array<LayerDecoder, 256> table{};
    table[ip_protocol::kIcmp] = decode_icmp;
    table[ip_protocol::kIgmp] = decode_igmp;
    table[4] = decode_ipv4_in_ip;
    table[ip_protocol::kTcp] = decode_tcp;
    table[ip_protocol::kUdp] = decode_udp;
    table[41] = decode_ipv6_in_ip;
    table[47] = decode_gre;
    table[51] = decode_ah;
    table[103] = decode_pim;
    table[143] = decode_ethernet_in_ip;
    table[ip_protocol::kIcmpv6] = decode_icmpv6;
    return table;
}
constexpr std::array<LayerDecoder, 256> kIpProtocols = make_ip_protocols();

template <typename Key, size_t N>
LayerDecoder find(const Route<Key> (&routes)[N], Key key) {
    for (const auto& route : routes) {
        if (route.key == key) return route.decoder;
    }
    return nullptr;
}

}  // namespace

DecodeResult decode_link(Context& ctx, int linktype, Bytes bytes) {
    LayerDecoder decoder = find(kLinkTypes, linktype);
    return decoder ? decoder(ctx, bytes) : DecodeResult::kNotTracked;
}

DecodeResult decode_ethertype(Context& ctx, uint16_t ethertype, Bytes bytes) {
    LayerDecoder decoder = find(kEthertypes, ethertype);
    return decoder ? decoder(ctx, bytes) : DecodeResult::kNotTracked;
}

DecodeResult decode_ppp_protocol(Context& ctx, uint16_t protocol, Bytes bytes) {
    LayerDecoder decoder = find(kPppProtocols, protocol);
    return decoder ? decoder(ctx, bytes) : DecodeResult::kNotTracked;
}

DecodeResult decode_ip_protocol(Context& ctx, uint8_t protocol, Bytes bytes) {
    LayerDecoder decoder = kIpProtocols[protocol];
    return decoder ? decoder(ctx, bytes) : decode_other_protocol(ctx, protocol, bytes);
}

std::optional<DecodeResult> decode_udp_tunnel(Context& ctx, uint16_t source_port,
                                              uint16_t target_port, Bytes payload) {
    for (const auto& [port, decoder] : kUdpTunnels) {
        if (port != target_port && port != source_port) continue;
        if (auto result = decoder(ctx, payload)) return result;
    }
    return std::nullopt;
}

bool enter_tunnel(Context& ctx, Bytes inner) {
    if (ctx.tunnels >= kMaxTunnelDepth) {
        ctx.anomalies.add(Anomaly::kTunnelTooDeep);
        return false;
    }
    ++ctx.tunnels;
    ctx.out.wire_length = inner.wire;
    return true;
}

namespace {

constexpr uint16_t kTeredoPort = 3544;  // unwrapped by the pipeline, not the decoder

bool is_tunnel_port(uint16_t port) {
    if (port == kTeredoPort) return true;
    for (const auto& [tunnel_port, decoder] : kUdpTunnels) {
        if (port == tunnel_port) return true;
    }
    return false;
}

// Fills the transport and ports of a TCP segment or UDP datagram of `segment` bytes at
// `transport`. Returns true when decode_tcp() or decode_udp() would return kPacket for it
// without looking further, which a UDP datagram on a tunnel port may need to.
bool plain_transport(uint8_t protocol, const uint8_t* transport, size_t segment, Packet& out) {
    constexpr size_t kTcpMinHeader = 20;
    constexpr size_t kUdpHeader = 8;
    if (protocol == ip_protocol::kTcp) {
        if (segment < kTcpMinHeader) return false;
        const size_t header = (transport[12] >> 4) * 4u;
        if (header < kTcpMinHeader || header > segment) return false;
    } else if (protocol == ip_protocol::kUdp) {
        if (segment < kUdpHeader) return false;
        const size_t length = static_cast<size_t>(transport[4]) << 8 | transport[5];
        if (length != 0 && length < kUdpHeader) return false;
    } else {
        return false;
    }
    out.ip_protocol = protocol;
    out.source_port = static_cast<uint16_t>(transport[0] << 8 | transport[1]);
    out.target_port = static_cast<uint16_t>(transport[2] << 8 | transport[3]);
    return protocol == ip_protocol::kTcp ||
           (!is_tunnel_port(out.source_port) && !is_tunnel_port(out.target_port));
}

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;

// Finds the network layer of an Ethernet II frame with at most one 802.1Q tag: its
// ethertype and the captured bytes from its first byte on. Returns false for a frame of
// another link type or one shorter than its Ethernet header.
bool ethernet_payload(int linktype, std::span<const uint8_t> frame, uint16_t& ethertype,
                      std::span<const uint8_t>& network) {
    constexpr size_t kEthernetHeader = 14;
    constexpr size_t kVlanTag = 4;
    if (linktype != DLT_EN10MB || frame.size() < kEthernetHeader) return false;
    size_t offset = kEthernetHeader;
    ethertype = static_cast<uint16_t>(frame[12] << 8 | frame[13]);
    if (ethertype == 0x8100 && frame.size() >= offset + kVlanTag) {
        ethertype = static_cast<uint16_t>(frame[offset + 2] << 8 | frame[offset + 3]);
        offset += kVlanTag;
    }
    network = frame.subspan(offset);
    return true;
}

// Reads the shapes most traffic has, for Decoder::addresses(): Ethernet II with at most
// one 802.1Q tag, IPv4 that is not a fragment or IPv6 without extension headers, and TCP
// or UDP. It applies the checks of decode_link() to a frame whose wire length is its
// captured length. Returns true, with the addresses, transport and ports filled, when
// decode_link() would return kPacket for the frame with those addresses, and false for
// any other frame.
bool plain_addresses(int linktype, std::span<const uint8_t> frame, Packet& out) {
    uint16_t ethertype = 0;
    std::span<const uint8_t> network;
    if (!ethernet_payload(linktype, frame, ethertype, network)) return false;
    const uint8_t* ip = network.data();
    const size_t available = network.size();
    if (ethertype == 0x0800) {
        if (available < kIpv4MinHeader) return false;
        const size_t header = (ip[0] & 0x0F) * 4u;
        if (ip[0] >> 4 != 4 || header < kIpv4MinHeader || header > available) return false;
        size_t total = static_cast<size_t>(ip[2]) << 8 | ip[3];
        if (total == 0 || total > available) total = available;
        if (total < header) return false;
        const bool fragment = (ip[6] & 0x3F) != 0 || ip[7] != 0;  // more fragments, or an offset
        if (fragment) return false;
        out.source.set_v4(ip + 12);
        out.target.set_v4(ip + 16);
        return plain_transport(ip[9], ip + header, total - header, out);
    }
    if (ethertype == 0x86DD) {
        if (available < kIpv6Header || ip[0] >> 4 != 6) return false;
        size_t total = kIpv6Header + (static_cast<size_t>(ip[4]) << 8 | ip[5]);
        if (total == kIpv6Header || total > available) total = available;
        out.source.set_v6(ip + 8);
        out.target.set_v6(ip + 24);
        return plain_transport(ip[6], ip + kIpv6Header, total - kIpv6Header, out);
    }
    return false;
}

// Whether decode_ip_protocol() ends a packet of `protocol` with the addresses of the IP
// header before it: every transport but the tunnels (IP in IP, GRE, PIM), AH (which
// hides the next protocol) and UDP on a tunnel port.
bool keeps_ip_addresses(uint8_t protocol, const uint8_t* transport, size_t available) {
    switch (protocol) {
        case ip_protocol::kTcp:
        case ip_protocol::kIcmp:
        case ip_protocol::kIgmp:
        case ip_protocol::kIcmpv6:
            return true;
        case ip_protocol::kUdp:
            if (available < 4) return false;
            return !is_tunnel_port(static_cast<uint16_t>(transport[0] << 8 | transport[1])) &&
                   !is_tunnel_port(static_cast<uint16_t>(transport[2] << 8 | transport[3]));
        default:
            return false;
    }
}

// See Decoder::shard_addresses().
bool shard_addresses(int linktype, std::span<const uint8_t> frame, const uint8_t*& source,
                     const uint8_t*& target, bool& v6) {
    uint16_t ethertype = 0;
    std::span<const uint8_t> network;
    if (!ethernet_payload(linktype, frame, ethertype, network)) return false;
    const uint8_t* ip = network.data();
    const size_t available = network.size();
    if (ethertype == 0x0800) {
        if (available < kIpv4MinHeader || ip[0] >> 4 != 4) return false;
        const size_t header = (ip[0] & 0x0F) * 4u;
        const bool fragment = (ip[6] & 0x3F) != 0 || ip[7] != 0;  // more fragments, or an offset
        if (header < kIpv4MinHeader || header > available || fragment) return false;
        if (!keeps_ip_addresses(ip[9], ip + header, available - header)) return false;
        source = ip + 12;
        target = ip + 16;
        v6 = false;
        return true;
    }
    if (ethertype == 0x86DD) {
        if (available < kIpv6Header || ip[0] >> 4 != 6) return false;
        if (!keeps_ip_addresses(ip[6], ip + kIpv6Header, available - kIpv6Header)) return false;
        source = ip + 8;
        target = ip + 24;
        v6 = true;
        return true;
    }
    return false;
}

}  // namespace

// The value decode() starts from. Copying it compiles to a few vector moves, where
// assigning Packet{} compiles to a slower `rep stos`.
const Packet kEmptyPacket{};

}  // namespace detail

Decoder::Decoder(const FragmentLimits& limits)
    : fragments_(std::make_unique<FragmentReassembler>(limits)) {}

Decoder::~Decoder() = default;

bool Decoder::plain_addresses(int linktype, std::span<const uint8_t> frame, Packet& out) {
    return detail::plain_addresses(linktype, frame, out);
}

bool Decoder::shard_addresses(int linktype, std::span<const uint8_t> frame, const uint8_t*& source,
                              const uint8_t*& target, bool& v6) {
    return detail::shard_addresses(linktype, frame, source, target, v6);
}

bool Decoder::supports_link_type(int linktype) {
    return detail::find(detail::kLinkTypes, linktype) != nullptr;
}

size_t Decoder::memory_bytes() const { return fragments_->memory_bytes(); }

bool Decoder::evict_oldest_fragments() { return fragments_->evict_oldest(); }

void Decoder::expire_fragments(int64_t now_us) { fragments_->expire(now_us, anomalies_); }

void Decoder::end_fragments() { fragments_->drop_incomplete(anomalies_); }

DecodeResult Decoder::decode(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                             int64_t time_us, Packet& out) {
    fragments_->release();  // the datagram handed out by the previous call

    out = detail::kEmptyPacket;
    out.time_us = time_us;
    // A frame cannot have been shorter on the wire than captured; trust the capture then.
    const auto captured = static_cast<uint32_t>(std::min<size_t>(frame.size(), UINT32_MAX));
    detail::Bytes bytes{frame.first(captured), std::max(wire_length, captured)};
    out.wire_length = bytes.wire;

    detail::Context ctx{out, anomalies_, *fragments_, time_us};
    const DecodeResult result = detail::decode_link(ctx, linktype, bytes);
    if (result == DecodeResult::kPacket && out.payload.size() < out.payload_length) {
        anomalies_.add(Anomaly::kPacketTruncatedBySnaplen);
    }
    return result;
}

DecodeResult Decoder::addresses(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                                Packet& out, FragmentPlace* fragment) {
    if (fragment != nullptr) *fragment = FragmentPlace{};
    out = detail::kEmptyPacket;
    if (plain_addresses(linktype, frame, out)) return DecodeResult::kPacket;
    out = detail::kEmptyPacket;
    const auto captured = static_cast<uint32_t>(std::min<size_t>(frame.size(), UINT32_MAX));
    detail::Bytes bytes{frame.first(captured), std::max(wire_length, captured)};
    AnomalyCounters ignored;
    detail::Context ctx{out, ignored, *fragments_, 0};
    ctx.addresses_only = true;
    ctx.fragment_place = fragment;
    return detail::decode_link(ctx, linktype, bytes);
}

}  // namespace pw::decode
