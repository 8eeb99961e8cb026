// Tunnels whose inner packet is decoded in place of the outer one: GRE (with ERSPAN and
// PPTP's enhanced GRE), IP in IP, PIM registers, and the UDP tunnels GTP-U, VXLAN,
// Geneve, CAPWAP, AYIYA and L2TP version 2.
// The UDP tunnels are recognised by their header's content, not by the port alone: a
// payload that does not check out stays an ordinary UDP packet.
//
// NOTE: Teredo (UDP 3544) is deliberately not unwrapped: its flows stay outer UDP flows.

#include "decode/layers.h"

namespace pw::decode::detail {

namespace {

constexpr size_t kGreHeader = 4;
constexpr uint16_t kGreChecksum = 0x8000;
constexpr uint16_t kGreRouting = 0x4000;
constexpr uint16_t kGreKey = 0x2000;
constexpr uint16_t kGreSequence = 0x1000;
constexpr uint16_t kGreAck = 0x0080;  // enhanced GRE (version 1) only
constexpr uint16_t kGreVersionMask = 0x0007;

namespace gre_protocol {
constexpr uint16_t kTransparentEthernet = 0x6558;
constexpr uint16_t kErspan2 = 0x88BE;  // type I without a sequence number, else type II
constexpr uint16_t kErspan3 = 0x22EB;
constexpr uint16_t kPpp = 0x880B;
constexpr uint16_t kCiscoMetadata = 0x8909;

// Aruba's controllers carry 802.11 frames from their access points in GRE under the
// protocol types 0x8200 to 0x8370, in steps of 0x10 (the list in Wireshark's GRE dissector).
constexpr bool is_aruba_wlan(uint16_t protocol) {
    return protocol >= 0x8200 && protocol <= 0x8370 && (protocol & 0x000F) == 0;
}
}  // namespace gre_protocol

// In GRE, Cisco's metadata header puts the EtherType first, then version, length, options
// and security group tag (on Ethernet the EtherType comes last).
constexpr size_t kGreCiscoMetadata = 8;

constexpr size_t kErspan2Header = 8;
constexpr size_t kErspan3Header = 12;
constexpr size_t kErspan3PlatformHeader = 8;

constexpr size_t kGtpHeader = 8;
constexpr size_t kGtpOptional = 4;
constexpr uint8_t kGtpVersion1 = 1;
constexpr uint8_t kGtpProtocolType = 0x10;  // GTP, not GTP'
constexpr uint8_t kGtpExtension = 0x04;
constexpr uint8_t kGtpOptionalFlags = 0x07;  // extension, sequence, N-PDU number
constexpr uint8_t kGtpGpdu = 0xFF;

constexpr size_t kVxlanHeader = 8;
constexpr uint8_t kVxlanValidVni = 0x08;

constexpr size_t kGeneveHeader = 8;

constexpr size_t kPimRegisterHeader = 8;  // the PIM header and the register's flags
constexpr uint8_t kPimV2Register = 0x21;
constexpr uint8_t kPimNullRegister = 0x40;

constexpr size_t kAyiyaMinHeader = 8;
constexpr uint8_t kAyiyaForward = 1;

// L2TP version 2 (RFC 2661 section 3.1): the first 16 bits contain the flags T (control
// message), L (length field present), S (Ns and Nr present), O (offset field present) and
// P (priority), bits that are 0, and the version.
constexpr size_t kL2tpMinHeader = 6;  // flags, tunnel id, session id
constexpr uint16_t kL2tpControl = 0x8000;
constexpr uint16_t kL2tpLength = 0x4000;
constexpr uint16_t kL2tpSequence = 0x0800;
constexpr uint16_t kL2tpOffset = 0x0200;
constexpr uint16_t kL2tpReserved = 0x34F0;
constexpr uint16_t kL2tpVersionMask = 0x000F;
constexpr uint16_t kL2tpVersion2 = 2;

constexpr size_t kCapwapMinHeader = 8;
constexpr uint8_t kCapwapWbidIeee80211 = 1;
constexpr uint8_t kCapwapFragment = 0x80;
constexpr uint8_t kCapwapKeepAlive = 0x08;

// The first byte of what a tunnel carries without naming it tells IPv4 from IPv6.
std::optional<DecodeResult> decode_inner_ip(Context& ctx, Bytes inner) {
    ByteReader reader = inner.reader();
    const uint8_t version = reader.has(1) ? reader.u8(0) >> 4 : 0;
    if (version != 4 && version != 6) return std::nullopt;
    if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
    return version == 4 ? decode_ipv4(ctx, inner) : decode_ipv6(ctx, inner);
}

DecodeResult decode_erspan(Context& ctx, uint16_t protocol, bool sequenced, Bytes bytes) {
    ByteReader reader = bytes.reader();
    size_t header = 0;
    if (protocol == gre_protocol::kErspan3) {
        if (!reader.has(kErspan3Header)) return ctx.malformed(Anomaly::kTruncatedTunnel);
        header = kErspan3Header;
        if (reader.u8(11) & 0x01) header += kErspan3PlatformHeader;
    } else if (sequenced) {  // type II; type I has no header of its own
        header = kErspan2Header;
    }
    if (!reader.has(header)) return ctx.malformed(Anomaly::kTruncatedTunnel);
    Bytes inner = bytes.after(header);
    if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
    return decode_ethernet(ctx, inner);
}

DecodeResult decode_gre_v0(Context& ctx, uint16_t flags, uint16_t protocol, Bytes bytes) {
    // RFC 2784 with RFC 2890's key and sequence number; RFC 1701's routing is still seen.
    ByteReader reader = bytes.reader();
    size_t offset = kGreHeader;
    if (flags & (kGreChecksum | kGreRouting)) offset += 4;  // checksum and offset
    if (flags & kGreKey) offset += 4;
    if (flags & kGreSequence) offset += 4;
    if (flags & kGreRouting) {
        // Source route entries: family (2), offset (1), length (1), then `length` bytes,
        // up to an entry of family 0 and length 0.
        for (;;) {
            if (!reader.has(offset, 4)) return ctx.malformed(Anomaly::kTruncatedTunnel);
            const uint16_t family = reader.be16(offset);
            const uint8_t length = reader.u8(offset + 3);
            offset += 4 + length;
            if (family == 0 && length == 0) break;
        }
    }
    if (!reader.has(offset)) return ctx.malformed(Anomaly::kTruncatedTunnel);
    Bytes inner = bytes.after(offset);

    switch (protocol) {
        case gre_protocol::kErspan2:
        case gre_protocol::kErspan3:
            return decode_erspan(ctx, protocol, flags & kGreSequence, inner);
        case gre_protocol::kPpp:
            if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
            return decode_ppp(ctx, inner);
        case gre_protocol::kCiscoMetadata: {
            ByteReader metadata = inner.reader();
            if (!metadata.has(kGreCiscoMetadata)) return ctx.malformed(Anomaly::kTruncatedTunnel);
            Bytes packet = inner.after(kGreCiscoMetadata);
            if (!enter_tunnel(ctx, packet)) return DecodeResult::kMalformed;
            return decode_ethertype(ctx, metadata.be16(0), packet);
        }
        default:
            if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
            if (gre_protocol::is_aruba_wlan(protocol)) {
                return decode_ieee80211_frame(ctx, inner, false, false);
            }
            return decode_ethertype(ctx, protocol, inner);
    }
}

DecodeResult decode_gre_v1(Context& ctx, uint16_t flags, uint16_t protocol, Bytes bytes) {
    // PPTP's enhanced GRE (RFC 2637): a key made of the payload length and call id, an
    // optional sequence and acknowledgment number, then a PPP frame.
    ByteReader reader = bytes.reader();
    if (protocol != gre_protocol::kPpp || !(flags & kGreKey)) return DecodeResult::kNotTracked;
    size_t offset = kGreHeader + 4;
    if (flags & kGreSequence) offset += 4;
    if (flags & kGreAck) offset += 4;
    if (!reader.has(offset)) return ctx.malformed(Anomaly::kTruncatedTunnel);
    const uint16_t payload_length = reader.be16(4);
    if (payload_length == 0) return DecodeResult::kNotTracked;  // an acknowledgment alone
    Bytes inner = bytes.after(offset);
    if (payload_length > inner.wire) return ctx.malformed(Anomaly::kBadTunnelHeader);
    inner = inner.first(payload_length);
    if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
    return decode_ppp(ctx, inner);
}

}  // namespace

DecodeResult decode_gre(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kGreHeader)) return ctx.malformed(Anomaly::kTruncatedTunnel);
    const uint16_t flags = reader.be16(0);
    const uint16_t protocol = reader.be16(2);
    switch (flags & kGreVersionMask) {
        case 0:
            return decode_gre_v0(ctx, flags, protocol, bytes);
        case 1:
            return decode_gre_v1(ctx, flags, protocol, bytes);
        default:
            return ctx.malformed(Anomaly::kBadTunnelHeader);
    }
}

DecodeResult decode_ipv4_in_ip(Context& ctx, Bytes bytes) {
    if (!enter_tunnel(ctx, bytes)) return DecodeResult::kMalformed;
    return decode_ipv4(ctx, bytes);
}

DecodeResult decode_ipv6_in_ip(Context& ctx, Bytes bytes) {
    if (!enter_tunnel(ctx, bytes)) return DecodeResult::kMalformed;
    return decode_ipv6(ctx, bytes);
}

DecodeResult decode_ethernet_in_ip(Context& ctx, Bytes bytes) {
    // IP protocol 143 (RFC 8986): an Ethernet frame without preamble or checksum, as
    // segment routing's layer 2 services send it.
    if (!enter_tunnel(ctx, bytes)) return DecodeResult::kMalformed;
    return decode_ethernet(ctx, bytes);
}

DecodeResult decode_pim(Context& ctx, Bytes bytes) {
    // A PIM (RFC 7761) Register message carries a multicast packet to the rendezvous
    // point. A Null-Register carries only a header, and other messages (hellos, joins) no
    // packet: those are a PIM flow of their own.
    constexpr uint8_t kPim = 103;
    ByteReader reader = bytes.reader();
    if (!reader.has(kPimRegisterHeader) || reader.u8(0) != kPimV2Register ||
        (reader.u8(4) & kPimNullRegister)) {
        return decode_other_protocol(ctx, kPim, bytes);
    }
    auto inner = decode_inner_ip(ctx, bytes.after(kPimRegisterHeader));
    return inner ? *inner : decode_other_protocol(ctx, kPim, bytes);
}

std::optional<DecodeResult> decode_ayiya(Context& ctx, Bytes payload) {
    // AYIYA ("anything in anything", as SixXS used it): identity length (as a power of
    // 2) and type, signature length (in 4-byte words) and hash, authentication and
    // operation (1 forwards a packet), the next header, an epoch, identity and signature.
    ByteReader reader = payload.reader();
    if (!reader.has(kAyiyaMinHeader) || (reader.u8(2) & 0x0F) != kAyiyaForward) {
        return std::nullopt;
    }
    const uint8_t next = reader.u8(3);
    if (next != 4 && next != 41) return std::nullopt;
    const size_t header =
        kAyiyaMinHeader + (size_t{1} << (reader.u8(0) >> 4)) + (reader.u8(1) >> 4) * size_t{4};
    if (!reader.has(header)) return std::nullopt;
    return decode_inner_ip(ctx, payload.after(header));
}

std::optional<DecodeResult> decode_gtp_u(Context& ctx, Bytes payload) {
    // 3GPP TS 29.281: flags (version 1, protocol type 1, E, S, PN), message type, length
    // of what follows the first 8 bytes, TEID; with any of E, S or PN, 4 more bytes whose
    // last is the first extension header's type. Only a G-PDU carries a user packet.
    ByteReader reader = payload.reader();
    if (!reader.has(kGtpHeader)) return std::nullopt;
    const uint8_t flags = reader.u8(0);
    if (flags >> 5 != kGtpVersion1 || !(flags & kGtpProtocolType)) return std::nullopt;
    if (reader.u8(1) != kGtpGpdu) return std::nullopt;
    const uint32_t end = kGtpHeader + reader.be16(2);
    if (end > payload.wire) return std::nullopt;

    size_t offset = kGtpHeader;
    if (flags & kGtpOptionalFlags) {
        offset += kGtpOptional;
        // Extension headers: length in 4-byte units, content, next type in the last byte.
        uint8_t next = (flags & kGtpExtension) ? reader.u8(offset - 1) : 0;
        while (next != 0) {
            const size_t length = reader.u8(offset) * size_t{4};
            if (length == 0 || !reader.has(offset, length)) return std::nullopt;
            next = reader.u8(offset + length - 1);
            offset += length;
        }
    }
    if (offset > end || !reader.has(offset)) return std::nullopt;
    return decode_inner_ip(ctx, payload.first(end).after(offset));
}

std::optional<DecodeResult> decode_vxlan(Context& ctx, Bytes payload) {
    // RFC 7348: flags with the I bit (a valid VNI), 24 reserved bits, VNI, 8 reserved
    // bits, then an Ethernet frame. Reserved bits are not checked: senders set them.
    ByteReader reader = payload.reader();
    if (!reader.has(kVxlanHeader) || !(reader.u8(0) & kVxlanValidVni)) return std::nullopt;
    Bytes inner = payload.after(kVxlanHeader);
    if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
    return decode_ethernet(ctx, inner);
}

std::optional<DecodeResult> decode_vxlan_linux_port(Context& ctx, Bytes payload) {
    // Port 8472 is Linux's default for a VXLAN device created without dstport, and
    // flannel's, from before IANA assigned 4789. Other software uses it too, so the header
    // must be exactly what Linux sends: only the I flag, and every reserved bit zero.
    ByteReader reader = payload.reader();
    if (!reader.has(kVxlanHeader) || reader.u8(0) != kVxlanValidVni || reader.u8(1) != 0 ||
        reader.u8(2) != 0 || reader.u8(3) != 0 || reader.u8(7) != 0) {
        return std::nullopt;
    }
    return decode_vxlan(ctx, payload);
}

std::optional<DecodeResult> decode_geneve(Context& ctx, Bytes payload) {
    // RFC 8926: version (2 bits, 0) and options length in 4-byte units, flags, protocol
    // type (an EtherType), VNI, reserved, then the options.
    ByteReader reader = payload.reader();
    if (!reader.has(kGeneveHeader) || reader.u8(0) >> 6 != 0) return std::nullopt;
    const size_t header = kGeneveHeader + (reader.u8(0) & 0x3F) * size_t{4};
    if (!reader.has(header)) return std::nullopt;
    Bytes inner = payload.after(header);
    if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
    return decode_ethertype(ctx, reader.be16(2), inner);
}

std::optional<DecodeResult> decode_capwap_data(Context& ctx, Bytes payload) {
    // RFC 5415 section 4.3: preamble (version 0, type 0; type 1 is DTLS, encrypted), then
    // HLEN (5 bits, in 4-byte words), RID (5), WBID (5), T (1) and the flags F, L, W, M,
    // K. T set means the frame is in the radio's native format (802.11 for WBID 1), else
    // it is an 802.3 frame. Fragments and keep-alives carry no whole frame.
    ByteReader reader = payload.reader();
    if (!reader.has(kCapwapMinHeader) || reader.u8(0) != 0) return std::nullopt;
    const size_t header = (reader.u8(1) >> 3) * size_t{4};
    const uint8_t wbid = (reader.u8(2) >> 1) & 0x1F;
    const bool native = reader.u8(2) & 0x01;
    const uint8_t flags = reader.u8(3);
    if (header < kCapwapMinHeader || !reader.has(header)) return std::nullopt;
    if (flags & (kCapwapFragment | kCapwapKeepAlive)) return std::nullopt;
    if (native && wbid != kCapwapWbidIeee80211) return std::nullopt;

    Bytes inner = payload.after(header);
    if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
    if (native) return decode_ieee80211_frame(ctx, inner, false, true);
    return decode_ethernet(ctx, inner);
}

std::optional<DecodeResult> decode_l2tp(Context& ctx, Bytes payload) {
    // A data message: the flags, the length, tunnel and session ids, Ns and Nr, and the
    // offset size and its padding, each optional field only with its flag, then a PPP
    // frame. Control messages and version 3 stay UDP.
    ByteReader reader = payload.reader();
    if (!reader.has(kL2tpMinHeader)) return std::nullopt;
    const uint16_t flags = reader.be16(0);
    if ((flags & kL2tpVersionMask) != kL2tpVersion2) return std::nullopt;
    if (flags & (kL2tpControl | kL2tpReserved)) return std::nullopt;
    size_t offset = 2;
    size_t end = payload.wire;
    if (flags & kL2tpLength) {
        end = reader.be16(offset);
        offset += 2;
    }
    offset += 4;  // tunnel and session ids
    if (flags & kL2tpSequence) offset += 4;
    if (flags & kL2tpOffset) {
        if (!reader.has(offset, 2)) return std::nullopt;
        offset += 2 + size_t{reader.be16(offset)};
    }
    if (offset >= end || end > payload.wire || !reader.has(offset)) return std::nullopt;
    Bytes inner = payload.first(static_cast<uint32_t>(end)).after(offset);
    if (!enter_tunnel(ctx, inner)) return DecodeResult::kMalformed;
    return decode_ppp(ctx, inner);
}

}  // namespace pw::decode::detail
