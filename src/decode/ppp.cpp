// PPP (RFC 1661) with or without its HDLC-like framing (RFC 1662), Cisco HDLC, and PPPoE
// sessions (RFC 2516).

#include "decode/layers.h"

namespace pw::decode::detail {

namespace {

constexpr uint8_t kHdlcAllStations = 0xFF;
constexpr uint8_t kHdlcUnnumbered = 0x03;
constexpr uint8_t kCiscoUnicast = 0x0F;
constexpr uint8_t kCiscoMulticast = 0x8F;
constexpr size_t kCiscoHeader = 4;
constexpr size_t kPppoeHeader = 6;

}  // namespace

DecodeResult decode_ppp(Context& ctx, Bytes bytes) {
    // The address and control bytes may be there or compressed away, and the protocol
    // may be compressed to one byte: a protocol's first byte is even, its last odd.
    ByteReader reader = bytes.reader();
    if (!reader.has(1)) return ctx.malformed(Anomaly::kTruncatedPpp);
    size_t offset = 0;
    if (reader.u8(0) == kHdlcAllStations) {
        if (!reader.has(3)) return ctx.malformed(Anomaly::kTruncatedPpp);
        if (reader.u8(1) != kHdlcUnnumbered) return DecodeResult::kNotTracked;
        offset = 2;
    }
    if (!reader.has(offset, 1)) return ctx.malformed(Anomaly::kTruncatedPpp);
    uint16_t protocol = reader.u8(offset);
    if (protocol & 1) {
        offset += 1;
    } else {
        if (!reader.has(offset, 2)) return ctx.malformed(Anomaly::kTruncatedPpp);
        protocol = reader.be16(offset);
        offset += 2;
    }
    return decode_ppp_protocol(ctx, protocol, bytes.after(offset));
}

DecodeResult decode_cisco_hdlc(Context& ctx, Bytes bytes) {
    // address (unicast or multicast), control 0, then an EtherType
    ByteReader reader = bytes.reader();
    if (!reader.has(kCiscoHeader)) return ctx.malformed(Anomaly::kTruncatedLink);
    const uint8_t address = reader.u8(0);
    if (address != kCiscoUnicast && address != kCiscoMulticast) {
        return DecodeResult::kNotTracked;
    }
    return decode_ethertype(ctx, reader.be16(2), bytes.after(kCiscoHeader));
}

DecodeResult decode_ppp_hdlc(Context& ctx, Bytes bytes) {
    // DLT_PPP_SERIAL carries PPP in HDLC framing, or Cisco HDLC on the same kind of link.
    ByteReader reader = bytes.reader();
    if (!reader.has(1)) return ctx.malformed(Anomaly::kTruncatedPpp);
    const uint8_t address = reader.u8(0);
    if (address == kCiscoUnicast || address == kCiscoMulticast) {
        return decode_cisco_hdlc(ctx, bytes);
    }
    return decode_ppp(ctx, bytes);
}

DecodeResult decode_pppoe_session(Context& ctx, Bytes bytes) {
    // version and type (1, 1), code 0 for session data, session id, payload length
    ByteReader reader = bytes.reader();
    if (!reader.has(kPppoeHeader)) return ctx.malformed(Anomaly::kTruncatedPpp);
    if (reader.u8(0) != 0x11 || reader.u8(1) != 0x00) return DecodeResult::kNotTracked;
    const uint16_t length = reader.be16(4);
    Bytes payload = bytes.after(kPppoeHeader);
    if (length > payload.wire) return ctx.malformed(Anomaly::kTruncatedPpp);
    payload = payload.first(length);
    ByteReader inner = payload.reader();
    if (!inner.has(2)) return ctx.malformed(Anomaly::kTruncatedPpp);
    return decode_ppp_protocol(ctx, inner.be16(0), payload.after(2));
}

}  // namespace pw::decode::detail
