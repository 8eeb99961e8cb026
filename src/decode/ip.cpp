// IPv4 (RFC 791) and IPv6 (RFC 8200) with its extension headers, and IP fragments, which
// go to the reassembler.

#include "decode/fragments.h"
#include "decode/layers.h"

namespace pw::decode::detail {

namespace {

constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;
constexpr size_t kIpv6FragmentHeader = 8;

constexpr uint16_t kIpv4MoreFragments = 0x2000;
constexpr uint32_t kMaxDatagram = 65535;  // the largest IPv4 or IPv6 length field value
constexpr uint16_t kIpv4OffsetMask = 0x1FFF;

namespace next_header {
constexpr uint8_t kHopByHop = 0;
constexpr uint8_t kRouting = 43;
constexpr uint8_t kFragment = 44;
constexpr uint8_t kEsp = 50;
constexpr uint8_t kAh = 51;
constexpr uint8_t kNoNext = 59;
constexpr uint8_t kDestination = 60;
}  // namespace next_header

DecodeResult ipv6_chain(Context& ctx, uint8_t next, Bytes bytes, uint32_t header_length);

// Hands a fragment to the reassembler; for a completed datagram, decodes its payload with
// `payload_decoder`.
template <typename PayloadDecoder>
DecodeResult reassemble(Context& ctx, const Fragment& fragment, PayloadDecoder payload_decoder) {
    // Decoder::addresses() reassembles nothing, and the last fragment counts as the datagram
    // it would complete. The first one contains the headers of what the datagram carries,
    // so reading on there finds the datagram's innermost addresses.
    if (ctx.addresses_only) {
        if (ctx.fragment_place != nullptr && !ctx.fragment_place->found) {
            FragmentPlace& place = *ctx.fragment_place;
            place = {true,
                     fragment.key.source,
                     fragment.key.target,
                     fragment.key.id,
                     fragment.key.protocol,
                     fragment.offset == 0,
                     !fragment.more,
                     fragment.next_header,
                     static_cast<uint32_t>(fragment.data.size()),
                     fragment.offset};
            if (place.first) {
                // The datagram is longer than this fragment by as much as later ones bring:
                // read the fragment as the captured start of a datagram of the longest size.
                const auto captured = static_cast<uint32_t>(fragment.data.size());
                payload_decoder(Reassembled{fragment.data, std::max(captured, kMaxDatagram),
                                            fragment.header_length, fragment.next_header});
            }
        }
        return fragment.more ? DecodeResult::kHeld : DecodeResult::kPacket;
    }
    Reassembled done;
    switch (ctx.fragments.add(fragment, ctx.time_us, ctx.anomalies, done)) {
        case FragmentReassembler::Result::kHeld:
            return DecodeResult::kHeld;
        case FragmentReassembler::Result::kDropped:
            return DecodeResult::kMalformed;
        case FragmentReassembler::Result::kComplete:
            break;
    }
    ctx.out.wire_length = done.header_length + done.wire_length;
    return payload_decoder(done);
}

DecodeResult ipv6_fragment(Context& ctx, Bytes bytes, uint32_t header_length) {
    // next header, reserved, offset (13 bits, in 8-byte units) with the M flag, id
    ByteReader reader = bytes.reader();
    if (!reader.has(kIpv6FragmentHeader)) return ctx.malformed(Anomaly::kTruncatedIpv6Extension);
    const uint8_t next = reader.u8(0);
    const uint16_t offset_flags = reader.be16(2);
    const bool more = offset_flags & 1;
    const uint32_t offset = offset_flags & 0xFFF8;
    Bytes data = bytes.after(kIpv6FragmentHeader);
    header_length += kIpv6FragmentHeader;

    // An atomic fragment (offset 0, no more to come) is a whole datagram (RFC 6946).
    if (offset == 0 && !more) return ipv6_chain(ctx, next, data, header_length);
    if (offset == 0 && ctx.ip_incomplete) {
        ctx.first_fragment = true;  // see decode_ipv4
        return ipv6_chain(ctx, next, data, header_length);
    }

    Fragment fragment;
    fragment.key = {ctx.out.source, ctx.out.target, reader.be32(4), 0};
    fragment.offset = offset;
    fragment.more = more;
    fragment.data = data.data();
    fragment.wire_length = data.wire;
    fragment.header_length = header_length;
    fragment.next_header = next;
    return reassemble(ctx, fragment, [&ctx](const Reassembled& done) {
        return ipv6_chain(ctx, done.next_header, Bytes{done.data, done.wire_length},
                          done.header_length);
    });
}

DecodeResult ipv6_chain(Context& ctx, uint8_t next, Bytes bytes, uint32_t header_length) {
    // Each extension header gives the type of the next one; the chain ends at a transport
    // (or anything else that is not an extension header).
    for (;;) {
        switch (next) {
            case next_header::kHopByHop:
            case next_header::kRouting:
            case next_header::kDestination:
            case next_header::kAh:
            case next_header::kFragment:
                break;
            case next_header::kEsp:  // encrypted, so a flow of its own without ports
                return decode_other_protocol(ctx, next, bytes);
            case next_header::kNoNext:
                return DecodeResult::kNotTracked;
            default:
                return decode_ip_protocol(ctx, next, bytes);
        }
        if (++ctx.ip_extensions > kMaxIpExtensions) {
            return ctx.malformed(Anomaly::kTooManyIpv6Extensions);
        }
        if (next == next_header::kFragment) return ipv6_fragment(ctx, bytes, header_length);

        ByteReader reader = bytes.reader();
        if (!reader.has(2)) return ctx.malformed(Anomaly::kTruncatedIpv6Extension);
        // AH counts its length in 4-byte units less 2, the others in 8-byte units less 1.
        const size_t length =
            next == next_header::kAh ? (reader.u8(1) + 2u) * 4 : (reader.u8(1) + 1u) * 8;
        if (!reader.has(length)) return ctx.malformed(Anomaly::kTruncatedIpv6Extension);
        next = reader.u8(0);
        bytes = bytes.after(length);
        header_length += static_cast<uint32_t>(length);
    }
}

}  // namespace

DecodeResult decode_ipv4(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kIpv4MinHeader)) return ctx.malformed(Anomaly::kTruncatedIpv4);
    if (reader.u8(0) >> 4 != 4) return ctx.malformed(Anomaly::kBadIpVersion);
    const uint32_t header = (reader.u8(0) & 0x0F) * 4u;
    if (header < kIpv4MinHeader) return ctx.malformed(Anomaly::kBadIpv4HeaderLength);
    if (!reader.has(header)) return ctx.malformed(Anomaly::kTruncatedIpv4);

    // A total length of 0 is what a capture on a host with TCP segmentation offload shows
    // for the oversized packets the stack hands to the NIC: the frame tells the length.
    uint32_t total = reader.be16(2);
    if (total == 0) total = bytes.wire;
    if (total < header) return ctx.malformed(Anomaly::kBadIpv4TotalLength);
    ctx.ip_incomplete = total > bytes.captured();
    ctx.first_fragment = false;
    if (total > bytes.wire) {
        // Longer than the frame: a bad length, or a capture tool that wrote the cut length
        // as the original one. Count it, and (as Wireshark does) decode what the frame has.
        ctx.anomalies.add(Anomaly::kBadIpv4TotalLength);
        total = bytes.wire;
    }
    bytes = bytes.first(total);  // Ethernet pads short frames: the padding is not payload

    const uint8_t protocol = reader.u8(9);
    ctx.out.source.set_v4(reader.ptr(12, 4));
    ctx.out.target.set_v4(reader.ptr(16, 4));
    ctx.out.ip_protocol = protocol;
    ctx.ip_extensions = 0;

    const uint16_t fragment_field = reader.be16(6);
    const bool more = fragment_field & kIpv4MoreFragments;
    const uint32_t offset = (fragment_field & kIpv4OffsetMask) * 8u;
    Bytes payload = bytes.after(header);
    if (!more && offset == 0) return decode_ip_protocol(ctx, protocol, payload);
    if (offset == 0 && ctx.ip_incomplete) {
        // The snapshot length cut the first fragment, so its datagram could never be
        // completed: decode the first fragment as it is (its transport header is there),
        // as Wireshark does with fragments it cannot reassemble. Its later fragments go to
        // the reassembler and time out there.
        ctx.first_fragment = true;
        return decode_ip_protocol(ctx, protocol, payload);
    }

    Fragment fragment;
    fragment.key = {ctx.out.source, ctx.out.target, reader.be16(4), protocol};
    fragment.offset = offset;
    fragment.more = more;
    fragment.data = payload.data();
    fragment.wire_length = payload.wire;
    fragment.header_length = header;
    fragment.next_header = protocol;
    return reassemble(ctx, fragment, [&ctx](const Reassembled& done) {
        return decode_ip_protocol(ctx, done.next_header, Bytes{done.data, done.wire_length});
    });
}

DecodeResult decode_ipv6(Context& ctx, Bytes bytes) {
    ByteReader reader = bytes.reader();
    if (!reader.has(kIpv6Header)) return ctx.malformed(Anomaly::kTruncatedIpv6);
    if (reader.u8(0) >> 4 != 6) return ctx.malformed(Anomaly::kBadIpVersion);

    // A payload length of 0 with a payload is a jumbogram (RFC 2675) or, far more often,
    // segmentation offload as for IPv4: the frame tells the length.
    const uint8_t next = reader.u8(6);
    uint32_t total = kIpv6Header + reader.be16(4);
    if (total == kIpv6Header && bytes.wire > kIpv6Header && next != next_header::kNoNext) {
        total = bytes.wire;
    }
    ctx.ip_incomplete = total > bytes.captured();
    ctx.first_fragment = false;
    if (total > bytes.wire) {  // as for IPv4's total length
        ctx.anomalies.add(Anomaly::kBadIpv6PayloadLength);
        total = bytes.wire;
    }
    bytes = bytes.first(total);

    ctx.out.source.set_v6(reader.ptr(8, 16));
    ctx.out.target.set_v6(reader.ptr(24, 16));
    ctx.out.ip_protocol = next;
    ctx.ip_extensions = 0;
    return ipv6_chain(ctx, next, bytes.after(kIpv6Header), kIpv6Header);
}

DecodeResult decode_ah(Context& ctx, Bytes bytes) {
    // IPv4's AH (RFC 4302): next header, length in 4-byte units less 2, then the rest of
    // the header; what it authenticates follows in the clear. (IPv6 walks it in its chain.)
    ByteReader reader = bytes.reader();
    if (!reader.has(2)) return ctx.malformed(Anomaly::kTruncatedAh);
    const size_t length = (reader.u8(1) + 2u) * 4;
    if (!reader.has(length)) return ctx.malformed(Anomaly::kTruncatedAh);
    if (++ctx.ip_extensions > kMaxIpExtensions) {
        return ctx.malformed(Anomaly::kTooManyIpv6Extensions);
    }
    return decode_ip_protocol(ctx, reader.u8(0), bytes.after(length));
}

}  // namespace pw::decode::detail
