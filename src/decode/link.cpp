// Link layers: Ethernet (II and 802.3 with SNAP) with VLAN tags, MPLS, MACsec and Cisco
// metadata, Linux cooked captures, BSD loopback and raw IP.

#include "decode/layers.h"

namespace pw::decode::detail {

namespace {

constexpr size_t kEthernetHeader = 14;
constexpr size_t kVlanTag = 4;
constexpr size_t kMplsEntry = 4;
constexpr size_t kSllHeader = 16;
constexpr size_t kSll2Header = 20;
constexpr size_t kLoopbackHeader = 4;
constexpr size_t kMacsecHeader = 6;
constexpr size_t kMacsecSciLength = 8;
constexpr uint8_t kMacsecSci = 0x20;
constexpr uint8_t kMacsecEncrypted = 0x08;
constexpr uint8_t kMacsecChanged = 0x04;
constexpr size_t kCiscoMetadataHeader = 8;

// An EtherType field at or below this is an 802.3 length: the frame is not Ethernet II.
constexpr uint16_t kMax8023Length = 1500;

// BSD address families a loopback header can carry (they differ between systems).
constexpr uint32_t kAfInet = 2;
constexpr uint32_t kAfInet6Bsd[] = {24, 28, 30};  // NetBSD/OpenBSD, FreeBSD, macOS

DecodeResult dispatch_ethertype(Context& ctx, uint16_t ethertype, Bytes bytes) {
    // An 802.3 frame has an 802.2 LLC header, which carries IP only with SNAP. (Linux
    // cooked captures use the same small values: 4 there also means an LLC header.)
    if (ethertype <= kMax8023Length) return decode_llc_snap(ctx, bytes);
    return decode_ethertype(ctx, ethertype, bytes);
}

}  // namespace

DecodeResult decode_ethernet(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kEthernetHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    return dispatch_ethertype(ctx, reader.be16(12), bytes.after(kEthernetHeader));
}

DecodeResult decode_vlan(Context& ctx, Bytes bytes) {
    // 802.1Q, 802.1ad and the older 0x9100 tags share one layout: the tag control
    // information (priority, drop eligible, 12-bit id) and the next EtherType.
    ByteReader reader = bytes.reader();
    if (!reader.has(kVlanTag)) return ctx.malformed(Anomaly::kTruncatedVlan);
    if (!ctx.next_link_header(Anomaly::kTooManyLinkHeaders)) return DecodeResult::kMalformed;
    const uint32_t id = reader.be16(0) & 0x0FFF;
    ctx.out.vlan = ((ctx.out.vlan << 12) | id) & 0xFFFFFF;
    return dispatch_ethertype(ctx, reader.be16(2), bytes.after(kVlanTag));
}

DecodeResult decode_mpls(Context& ctx, Bytes bytes) {
    // Walk the label stack to its bottom entry; what follows has no type field, so the
    // explicit-null labels or the IP version nibble tell what it is (RFC 3032, 4385).
    uint32_t label = 0;
    for (;;) {
        ByteReader reader = bytes.reader();
        if (!reader.has(kMplsEntry)) return ctx.malformed(Anomaly::kTruncatedMpls);
        if (!ctx.next_link_header(Anomaly::kTooManyLinkHeaders)) return DecodeResult::kMalformed;
        const uint32_t entry = reader.be32(0);
        label = entry >> 12;
        bytes = bytes.after(kMplsEntry);
        if (entry & 0x100) break;  // bottom of stack
    }
    constexpr uint32_t kIpv4ExplicitNull = 0;
    constexpr uint32_t kIpv6ExplicitNull = 2;
    if (label == kIpv4ExplicitNull) return decode_ipv4(ctx, bytes);
    if (label == kIpv6ExplicitNull) return decode_ipv6(ctx, bytes);
    ByteReader reader = bytes.reader();
    if (!reader.has(1)) return ctx.malformed(Anomaly::kTruncatedMpls);
    switch (reader.u8(0) >> 4) {
        case 4:
            return decode_ipv4(ctx, bytes);
        case 6:
            return decode_ipv6(ctx, bytes);
        case 0:  // the pseudowire control word in front of an Ethernet frame
            if (!reader.has(4)) return ctx.malformed(Anomaly::kTruncatedMpls);
            return decode_ethernet(ctx, bytes.after(4));
        default:
            return DecodeResult::kNotTracked;
    }
}

DecodeResult decode_linux_sll(Context& ctx, Bytes bytes) {
    // packet type, ARPHRD type, address length, 8 address bytes, protocol
    ByteReader reader = bytes.reader();
    if (!reader.has(kSllHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    return dispatch_ethertype(ctx, reader.be16(14), bytes.after(kSllHeader));
}

DecodeResult decode_linux_sll2(Context& ctx, Bytes bytes) {
    // protocol, reserved, interface index, ARPHRD type, packet type, address length, address
    ByteReader reader = bytes.reader();
    if (!reader.has(kSll2Header)) return ctx.malformed(Anomaly::kTruncatedLink);
    return dispatch_ethertype(ctx, reader.be16(0), bytes.after(kSll2Header));
}

DecodeResult decode_loopback(Context& ctx, Bytes bytes) {
    // DLT_NULL writes the family in the capturing host's byte order and DLT_LOOP in
    // network order; a capture read elsewhere may be either, so accept both.
    ByteReader reader = bytes.reader();
    if (!reader.has(kLoopbackHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint32_t families[] = {reader.le32(0), reader.be32(0)};
    for (uint32_t family : families) {
        if (family == kAfInet) return decode_ipv4(ctx, bytes.after(kLoopbackHeader));
        for (uint32_t inet6 : kAfInet6Bsd) {
            if (family == inet6) return decode_ipv6(ctx, bytes.after(kLoopbackHeader));
        }
    }
    return DecodeResult::kNotTracked;
}

DecodeResult decode_raw_ip(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(1)) return ctx.malformed(Anomaly::kTruncatedLink);
    switch (reader.u8(0) >> 4) {
        case 4:
            return decode_ipv4(ctx, bytes);
        case 6:
            return decode_ipv6(ctx, bytes);
        default:
            return ctx.malformed(Anomaly::kBadIpVersion);
    }
}

DecodeResult decode_macsec(Context& ctx, Bytes bytes) {
    // 802.1AE SecTAG: TCI and association number, short length, packet number, and the
    // secure channel id when the SC bit says so. With E or C set the data is encrypted or
    // changed; otherwise (integrity only) the original EtherType and payload follow, and
    // the integrity check value at the end falls past the IP length.
    ByteReader reader = bytes.reader();
    if (!reader.has(kMacsecHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint8_t tci = reader.u8(0);
    if (tci & (kMacsecEncrypted | kMacsecChanged)) return DecodeResult::kNotTracked;
    const size_t header = kMacsecHeader + ((tci & kMacsecSci) ? kMacsecSciLength : 0);
    if (!reader.has(header + 2)) return ctx.malformed(Anomaly::kTruncatedLink);
    return dispatch_ethertype(ctx, reader.be16(header), bytes.after(header + 2));
}

DecodeResult decode_cisco_metadata(Context& ctx, Bytes bytes) {
    // version, length, option length and type, security group tag, next EtherType
    ByteReader reader = bytes.reader();
    if (!reader.has(kCiscoMetadataHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    return dispatch_ethertype(ctx, reader.be16(6), bytes.after(kCiscoMetadataHeader));
}

}  // namespace pw::decode::detail
