// The transports tracked as flows: TCP, UDP (whose payload may be a tunnel), ICMP, ICMPv6
// and IGMP.

#include <algorithm>

#include "decode/layers.h"

namespace pw::decode::detail {

namespace {

constexpr size_t kTcpMinHeader = 20;
constexpr size_t kUdpHeader = 8;
// ICMP, ICMPv6 and IGMP messages all start with 8 bytes (type, code, checksum and four
// bytes that depend on the type); what follows is their payload (see packet.h).
constexpr uint32_t kControlHeader = 8;
constexpr size_t kControlTypeAndCode = 2;

void set_payload(Packet& out, Bytes payload) {
    out.payload = payload.data();
    out.payload_length = payload.wire;
}

DecodeResult decode_control(Context& ctx, Bytes bytes, uint8_t protocol, Anomaly truncated) {
    // The message must be at least its 8-byte header long on the wire; of it, type and
    // code must have been captured.
    ByteReader reader = bytes.reader();
    if (bytes.wire < kControlHeader || !reader.has(kControlTypeAndCode)) {
        return ctx.malformed(truncated);
    }
    ctx.out.ip_protocol = protocol;
    ctx.out.source_port = 0;
    ctx.out.target_port = 0;
    ctx.out.icmp_type = reader.u8(0);
    ctx.out.icmp_code = reader.u8(1);
    set_payload(ctx.out, bytes.after(kControlHeader));
    return DecodeResult::kPacket;
}

// Returns the shift count of the window scale option (kind 3, length 3) among the TCP
// options in bytes [20, header) that were captured, at most 14 (RFC 7323, section 2.3), or
// kNoWindowScale. Reading stops at the end-of-options kind and at a malformed length.
uint8_t window_scale(const ByteReader& reader, size_t header) {
    constexpr uint8_t kEndOfOptions = 0;
    constexpr uint8_t kNoOperation = 1;
    constexpr uint8_t kWindowScale = 3;
    constexpr uint8_t kMaxShift = 14;
    size_t offset = kTcpMinHeader;
    while (offset < header && reader.has(offset, 1)) {
        const uint8_t kind = reader.u8(offset);
        if (kind == kEndOfOptions) break;
        if (kind == kNoOperation) {
            ++offset;
            continue;
        }
        if (!reader.has(offset, 2)) break;
        const uint8_t length = reader.u8(offset + 1);
        if (length < 2 || offset + length > header) break;
        if (kind == kWindowScale && length == 3 && reader.has(offset, 3)) {
            return std::min(reader.u8(offset + 2), kMaxShift);
        }
        offset += length;
    }
    return kNoWindowScale;
}

}  // namespace

DecodeResult decode_tcp(Context& ctx, Bytes bytes) {
    constexpr size_t kPorts = 4;
    constexpr size_t kFlagsEnd = 14;
    ByteReader reader = bytes.reader();
    // A header that the snapshot length cut still counts to its flow once its ports were
    // captured. Old tcpdump's 68 bytes leave 14 bytes of the TCP header of an IPv6 packet
    // on Ethernet, and 40 bytes leave 6 of an IPv4 packet's.
    const bool whole_header = reader.has(kTcpMinHeader);
    if (!whole_header && (!bytes.cut() || bytes.wire < kTcpMinHeader || !reader.has(kPorts))) {
        return ctx.malformed(Anomaly::kTruncatedTcp);
    }
    const uint32_t header = reader.has(13) ? (reader.u8(12) >> 4) * 4u : kTcpMinHeader;
    if (header < kTcpMinHeader || header > bytes.wire) {
        return ctx.malformed(Anomaly::kBadTcpHeaderLength);
    }
    // When the snapshot length cut the options, the fixed header still says all the flow
    // needs; the payload is then empty as captured but keeps its length on the wire.
    Packet& out = ctx.out;
    out.ip_protocol = ip_protocol::kTcp;
    out.source_port = reader.be16(0);
    out.target_port = reader.be16(2);
    if (reader.has(kFlagsEnd)) out.tcp_flags = reader.u8(13);
    if (whole_header) {
        out.seq = reader.be32(4);
        out.ack = reader.be32(8);
        out.window = reader.be16(14);
        out.window_scale =
            (out.tcp_flags & tcp_flag::kSyn) ? window_scale(reader, header) : kNoWindowScale;
    } else {
        out.tcp_header_cut = true;
    }
    set_payload(out, bytes.after(header));
    return DecodeResult::kPacket;
}

DecodeResult decode_udp(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kUdpHeader)) return ctx.malformed(Anomaly::kTruncatedUdp);
    // A length of 0 is a jumbogram (RFC 2675) or segmentation offload: the IP length rules.
    uint32_t length = reader.be16(4);
    if (length == 0) length = bytes.wire;
    if (length < kUdpHeader) return ctx.malformed(Anomaly::kBadUdpLength);
    Bytes payload = bytes.first(length).after(kUdpHeader);
    if (length > bytes.wire) {
        if (ctx.first_fragment) {
            // The first fragment of a datagram decoded alone: the UDP length is that of
            // the whole datagram, which is longer than this fragment.
            payload.wire = length - static_cast<uint32_t>(kUdpHeader);
        } else {
            // Longer than the IP payload: count it and keep to what the IP packet holds.
            ctx.anomalies.add(Anomaly::kBadUdpLength);
        }
    }

    Packet& out = ctx.out;
    out.ip_protocol = ip_protocol::kUdp;
    out.source_port = reader.be16(0);
    out.target_port = reader.be16(2);
    set_payload(out, payload);
    Packet outer = out;
    int tunnels = ctx.tunnels;
    if (auto tunnelled = decode_udp_tunnel(ctx, out.source_port, out.target_port, payload)) {
        if (*tunnelled == DecodeResult::kPacket || *tunnelled == DecodeResult::kHeld) {
            return *tunnelled;
        }
        // No IP packet inside: the datagram stays a UDP flow of its own, so that sending
        // to a tunnel's port cannot hide traffic from the events.
        out = outer;
        ctx.tunnels = tunnels;
    }
    return DecodeResult::kPacket;
}

DecodeResult decode_icmp(Context& ctx, Bytes bytes) {
    return decode_control(ctx, bytes, ip_protocol::kIcmp, Anomaly::kTruncatedIcmp);
}

DecodeResult decode_icmpv6(Context& ctx, Bytes bytes) {
    return decode_control(ctx, bytes, ip_protocol::kIcmpv6, Anomaly::kTruncatedIcmp);
}

DecodeResult decode_igmp(Context& ctx, Bytes bytes) {
    return decode_control(ctx, bytes, ip_protocol::kIgmp, Anomaly::kTruncatedIgmp);
}

DecodeResult decode_other_protocol(Context& ctx, uint8_t protocol, Bytes bytes) {
    ctx.out.ip_protocol = protocol;
    ctx.out.source_port = 0;
    ctx.out.target_port = 0;
    set_payload(ctx.out, bytes);
    return DecodeResult::kPacket;
}

}  // namespace pw::decode::detail
