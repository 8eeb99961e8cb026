// Link types that real captures use rarely: FDDI, Token Ring, ARCnet as Linux captures
// it, IP over InfiniBand, Solaris IPNET, Apple's PKTAP and Linux NFLOG.

#include "decode/layers.h"

namespace pw::decode::detail {

namespace {

constexpr size_t kFddiHeader = 13;  // frame control, destination, source
// Token Ring (IEEE 802.5): access control, frame control, destination and source. When
// the source address has its top bit set, a routing information field follows, whose
// length in bytes is the low 5 bits of its first byte (tcpdump's print-token.c).
constexpr size_t kTokenRingHeader = 14;
constexpr uint8_t kTokenRingLlcFrame = 0x40;  // frame type 01 in the top bits of FC
constexpr uint8_t kTokenRingSourceRouted = 0x80;
// IP over InfiniBand as Linux captures it (LINKTYPE_IPOIB): a 44-byte header whose last
// 4 bytes are the EtherType and 2 reserved bytes (tcpdump's print-ipoib.c).
constexpr size_t kIpoibHeader = 44;
constexpr size_t kIpoibEthertype = 40;
constexpr size_t kIpnetHeader = 24;
constexpr uint8_t kIpnetInet = 2;
constexpr uint8_t kIpnetInet6 = 26;
constexpr size_t kNflogHeader = 4;
constexpr uint16_t kNflogPayload = 9;        // NFULA_PAYLOAD
constexpr uint16_t kNflogTypeMask = 0x3FFF;  // the top bits flag nested/byte-order
constexpr size_t kPktapMinHeader = 12;

// ARCnet (RFC 1201) as Linux captures it: source, destination, a 2-byte offset, the
// protocol, then for the newer protocol ids a split flag and sequence number (and 4 more
// bytes for an exception packet).
constexpr size_t kArcnetOldHeader = 5;
constexpr size_t kArcnetHeader = 8;
constexpr size_t kArcnetExceptionHeader = 12;
constexpr uint8_t kArcnetIp = 0xD4;
constexpr uint8_t kArcnetIpv6 = 0xC4;
constexpr uint8_t kArcnetIpOld = 0xF0;
constexpr uint8_t kArcnetException = 0xFF;

}  // namespace

DecodeResult decode_fddi(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kFddiHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    return decode_llc_snap(ctx, bytes.after(kFddiHeader));
}

DecodeResult decode_token_ring(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kTokenRingHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    // MAC frames (ring management) carry no LLC payload.
    if ((reader.u8(1) & 0xC0) != kTokenRingLlcFrame) return DecodeResult::kNotTracked;
    size_t header = kTokenRingHeader;
    if (reader.u8(8) & kTokenRingSourceRouted) {
        if (!reader.has(kTokenRingHeader + 2)) return ctx.malformed(Anomaly::kTruncatedLink);
        const size_t routing = reader.u8(kTokenRingHeader) & 0x1F;
        if (routing < 2 || !reader.has(kTokenRingHeader + routing)) {
            return ctx.malformed(Anomaly::kTruncatedLink);
        }
        header += routing;
    }
    return decode_llc_snap(ctx, bytes.after(header));
}

DecodeResult decode_ipoib(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kIpoibHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    return decode_ethertype(ctx, reader.be16(kIpoibEthertype), bytes.after(kIpoibHeader));
}

DecodeResult decode_arcnet_linux(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kArcnetOldHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint8_t protocol = reader.u8(4);
    size_t header = kArcnetOldHeader;
    if (protocol != kArcnetIpOld) {
        if (!reader.has(kArcnetHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
        header = reader.u8(5) == kArcnetException ? kArcnetExceptionHeader : kArcnetHeader;
        if (!reader.has(header)) return ctx.malformed(Anomaly::kTruncatedLink);
    }
    switch (protocol) {
        case kArcnetIp:
        case kArcnetIpOld:
            return decode_ipv4(ctx, bytes.after(header));
        case kArcnetIpv6:
            return decode_ipv6(ctx, bytes.after(header));
        default:
            return DecodeResult::kNotTracked;
    }
}

DecodeResult decode_ipnet(Context& ctx, Bytes bytes) {
    // version, address family, hardware type, packet length, interface and zone ids
    ByteReader reader = bytes.reader();
    if (!reader.has(kIpnetHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    switch (reader.u8(1)) {
        case kIpnetInet:
            return decode_ipv4(ctx, bytes.after(kIpnetHeader));
        case kIpnetInet6:
            return decode_ipv6(ctx, bytes.after(kIpnetHeader));
        default:
            return DecodeResult::kNotTracked;
    }
}

DecodeResult decode_nflog(Context& ctx, Bytes bytes) {
    // A 4-byte header (family, version, resource id), then type-length-value records in
    // the capturing host's byte order, each padded to 4 bytes; the packet is one of them.
    ByteReader reader = bytes.reader();
    if (!reader.has(kNflogHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    size_t offset = kNflogHeader;
    const size_t remaining = reader.size() - offset;
    const bool big_endian = reader.has(offset, 4) &&
                            (reader.le16(offset) < 4 || reader.le16(offset) > remaining) &&
                            reader.be16(offset) >= 4 && reader.be16(offset) <= remaining;
    while (reader.has(offset, 4)) {
        const uint16_t length = big_endian ? reader.be16(offset) : reader.le16(offset);
        const uint16_t type =
            (big_endian ? reader.be16(offset + 2) : reader.le16(offset + 2)) & kNflogTypeMask;
        if (length < 4) return ctx.malformed(Anomaly::kTruncatedLink);
        if (type == kNflogPayload) {
            Bytes payload = bytes.after(offset + 4).first(length - 4u);
            return decode_raw_ip(ctx, payload);
        }
        offset += (static_cast<size_t>(length) + 3) & ~size_t{3};
    }
    return DecodeResult::kNotTracked;  // a record without a packet
}

DecodeResult decode_pktap(Context& ctx, Bytes bytes) {
    // Apple's PKTAP: header length, record type, then the link type of the frame that
    // follows the header, all little-endian.
    ByteReader reader = bytes.reader();
    if (!reader.has(kPktapMinHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint32_t length = reader.le32(0);
    constexpr uint32_t kPacketRecord = 1;
    if (length < kPktapMinHeader || !reader.has(length)) {
        return ctx.malformed(Anomaly::kTruncatedLink);
    }
    if (reader.le32(4) != kPacketRecord) return DecodeResult::kNotTracked;
    if (!ctx.next_link_header(Anomaly::kTooManyLinkHeaders)) return DecodeResult::kMalformed;
    return decode_link(ctx, static_cast<int>(reader.le32(8)), bytes.after(length));
}

}  // namespace pw::decode::detail
