// IEEE 802.11 data frames down to their LLC/SNAP header, and the radiotap and PPI headers
// that captures put in front of them. Management, control and protected (encrypted) frames
// are not decoded further. Of an aggregated frame (A-MSDU), the first subframe is decoded.

#include <utility>

#include "decode/layers.h"

namespace pw::decode::detail {

namespace {

constexpr size_t kIeee80211Header = 24;
constexpr size_t kFourthAddress = 6;
constexpr size_t kQosControl = 2;
constexpr size_t kHtControl = 4;
constexpr size_t kLlcSnapHeader = 8;
constexpr size_t kRadiotapMinHeader = 8;
constexpr size_t kPpiHeader = 8;
// An A-MSDU subframe's header: destination and source addresses, then the length of the
// MSDU after it, big-endian.
constexpr size_t kAmsduSubframeHeader = 14;

constexpr uint8_t kTypeData = 2;
constexpr uint8_t kSubtypeQos = 0x8;     // QoS variants of the data subtypes
constexpr uint8_t kSubtypeNoData = 0x4;  // Null, CF-Ack, CF-Poll without a body
constexpr uint8_t kToDsFromDs = 0x03;
constexpr uint8_t kProtected = 0x40;
constexpr uint8_t kOrder = 0x80;     // with QoS: an HT control field follows
constexpr uint8_t kQosAmsdu = 0x80;  // QoS control: the body is an A-MSDU

constexpr uint32_t kRadiotapTsft = 1u << 0;
constexpr uint32_t kRadiotapFlags = 1u << 1;
constexpr uint32_t kRadiotapExtended = 1u << 31;
constexpr uint8_t kRadiotapDataPad = 0x20;  // padding after the 802.11 header to 4 bytes

}  // namespace

DecodeResult decode_ieee80211_frame(Context& ctx, Bytes bytes, bool data_pad, bool maybe_swapped) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kIeee80211Header)) return ctx.malformed(Anomaly::kTruncatedIeee80211);
    uint8_t control = reader.u8(0);
    uint8_t flags = reader.u8(1);
    if (maybe_swapped && (control & 0x3) != 0 && (flags & 0x0F) == (kTypeData << 2)) {
        std::swap(control, flags);  // version 1 does not exist; swapped, it is a data frame
    }
    const uint8_t version = control & 0x3;
    const uint8_t type = (control >> 2) & 0x3;
    const uint8_t subtype = control >> 4;
    if (version != 0 || type != kTypeData) return DecodeResult::kNotTracked;
    if ((subtype & kSubtypeNoData) || (flags & kProtected)) return DecodeResult::kNotTracked;

    size_t length = kIeee80211Header;
    bool aggregated = false;
    if ((flags & kToDsFromDs) == kToDsFromDs) length += kFourthAddress;
    if (subtype & kSubtypeQos) {
        if (!reader.has(length, kQosControl)) return ctx.malformed(Anomaly::kTruncatedIeee80211);
        aggregated = (reader.u8(length) & kQosAmsdu) != 0;
        length += kQosControl;
        if (flags & kOrder) length += kHtControl;
    }
    if (data_pad) length = (length + 3) & ~size_t{3};
    if (!reader.has(length)) return ctx.malformed(Anomaly::kTruncatedIeee80211);
    if (!aggregated) return decode_llc_snap(ctx, bytes.after(length));

    // NOTE: one frame decodes to one packet, so the subframes after the first are not read.
    if (!reader.has(length, kAmsduSubframeHeader)) {
        return ctx.malformed(Anomaly::kTruncatedIeee80211);
    }
    const uint16_t msdu_length = reader.be16(length + 12);
    Bytes msdu = bytes.after(length + kAmsduSubframeHeader);
    if (msdu_length > msdu.wire) return ctx.malformed(Anomaly::kTruncatedIeee80211);
    return decode_llc_snap(ctx, msdu.first(msdu_length));
}

DecodeResult decode_llc_snap(Context& ctx, Bytes bytes) {
    // DSAP and SSAP 0xAA, control 0x03 (unnumbered), an OUI and the EtherType. The OUIs
    // 00-00-00 (RFC 1042) and 00-00-F8 (802.1H bridge tunnel) carry plain EtherTypes.
    ByteReader reader = bytes.reader();
    if (!reader.has(3)) return ctx.malformed(Anomaly::kTruncatedLink);
    if (reader.u8(0) != 0xAA || reader.u8(1) != 0xAA || reader.u8(2) != 0x03) {
        return DecodeResult::kNotTracked;
    }
    if (!reader.has(kLlcSnapHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint32_t oui = static_cast<uint32_t>(reader.u8(3)) << 16 | reader.be16(4);
    if (oui != 0x000000 && oui != 0x0000F8) return DecodeResult::kNotTracked;
    return decode_ethertype(ctx, reader.be16(6), bytes.after(kLlcSnapHeader));
}

DecodeResult decode_ieee80211(Context& ctx, Bytes bytes) {
    return decode_ieee80211_frame(ctx, bytes, false, false);
}

DecodeResult decode_radiotap(Context& ctx, Bytes bytes) {
    // version 0, pad, header length (little-endian), then the present bitmaps. Of the
    // fields, only Flags matters here (for its data-pad bit); TSFT is the one before it.
    ByteReader reader = bytes.reader();
    if (!reader.has(kRadiotapMinHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint16_t length = reader.le16(2);
    if (reader.u8(0) != 0 || length < kRadiotapMinHeader || !reader.has(length)) {
        return ctx.malformed(Anomaly::kTruncatedLink);
    }
    const uint32_t present = reader.le32(4);
    size_t offset = 8;
    for (uint32_t word = present; word & kRadiotapExtended; offset += 4) {
        if (offset + 4 > length) return ctx.malformed(Anomaly::kTruncatedLink);
        word = reader.le32(offset);
    }
    bool data_pad = false;
    if (present & kRadiotapTsft) offset = ((offset + 7) & ~size_t{7}) + 8;
    if (present & kRadiotapFlags) {
        if (offset >= length) return ctx.malformed(Anomaly::kTruncatedLink);
        data_pad = reader.u8(offset) & kRadiotapDataPad;
    }
    return decode_ieee80211_frame(ctx, bytes.after(length), data_pad, false);
}

DecodeResult decode_ppi(Context& ctx, Bytes bytes) {
    // version 0, flags, header length and the link type of the frame after it
    // (little-endian); the per-packet fields in between are skipped.
    ByteReader reader = bytes.reader();
    if (!reader.has(kPpiHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint16_t length = reader.le16(2);
    if (reader.u8(0) != 0 || length < kPpiHeader || !reader.has(length)) {
        return ctx.malformed(Anomaly::kTruncatedLink);
    }
    if (!ctx.next_link_header(Anomaly::kTooManyLinkHeaders)) return DecodeResult::kMalformed;
    return decode_link(ctx, static_cast<int>(reader.le32(4)), bytes.after(length));
}

}  // namespace pw::decode::detail
