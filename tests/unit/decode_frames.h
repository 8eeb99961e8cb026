#pragma once

// Builders for the frames the decode tests feed the decoder: each returns the bytes of one
// header with what it carries appended. Checksums are left 0: the decoder does not check
// them.

#include <pcap/dlt.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <utility>
#include <vector>

#include "decode/decoder.h"

namespace pw::decode::test {

using Frame = std::vector<uint8_t>;
using V4 = std::array<uint8_t, 4>;
using V6 = std::array<uint8_t, 16>;

inline constexpr V4 kClient4 = {10, 0, 0, 1};
inline constexpr V4 kServer4 = {192, 0, 2, 80};
inline constexpr V6 kClient6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
inline constexpr V6 kServer6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

inline void put16(Frame& frame, uint16_t value) {
    frame.push_back(static_cast<uint8_t>(value >> 8));
    frame.push_back(static_cast<uint8_t>(value));
}
inline void put32(Frame& frame, uint32_t value) {
    put16(frame, static_cast<uint16_t>(value >> 16));
    put16(frame, static_cast<uint16_t>(value));
}
inline void put_le16(Frame& frame, uint16_t value) {
    frame.push_back(static_cast<uint8_t>(value));
    frame.push_back(static_cast<uint8_t>(value >> 8));
}
inline void put_le32(Frame& frame, uint32_t value) {
    put_le16(frame, static_cast<uint16_t>(value));
    put_le16(frame, static_cast<uint16_t>(value >> 16));
}
inline Frame operator+(Frame head, const Frame& tail) {
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
}
inline Frame bytes(std::initializer_list<uint8_t> list) { return Frame(list); }
inline Frame filler(size_t count, uint8_t first = 0) {
    Frame frame(count);
    for (size_t i = 0; i < count; ++i) frame[i] = static_cast<uint8_t>(first + i);
    return frame;
}

inline Frame tcp(uint16_t source, uint16_t target, const Frame& payload = {}, uint8_t flags = 0x18,
                 uint32_t seq = 1000, uint32_t ack = 2000, const Frame& options = {}) {
    Frame frame;
    put16(frame, source);
    put16(frame, target);
    put32(frame, seq);
    put32(frame, ack);
    frame.push_back(static_cast<uint8_t>(((20 + options.size()) / 4) << 4));
    frame.push_back(flags);
    put16(frame, 65535);  // window
    put32(frame, 0);      // checksum, urgent pointer
    return frame + options + payload;
}

inline Frame udp(uint16_t source, uint16_t target, const Frame& payload = {}) {
    Frame frame;
    put16(frame, source);
    put16(frame, target);
    put16(frame, static_cast<uint16_t>(8 + payload.size()));
    put16(frame, 0);
    return frame + payload;
}

// An ICMP, ICMPv6 or IGMP message: type, code, checksum, `rest` (the 4 type-specific
// bytes and whatever follows).
inline Frame icmp(uint8_t type, uint8_t code, const Frame& rest) {
    return bytes({type, code, 0, 0}) + rest;
}

struct Ipv4Options {
    uint16_t id = 0x1234;
    bool more_fragments = false;
    uint16_t offset_bytes = 0;  // a multiple of 8
    Frame options;              // a multiple of 4
    int total_length = -1;      // -1: the real one
};

inline Frame ipv4(uint8_t protocol, const Frame& payload, V4 source = kClient4,
                  V4 target = kServer4, const Ipv4Options& extra = {}) {
    Frame frame;
    const size_t header = 20 + extra.options.size();
    frame.push_back(static_cast<uint8_t>(0x40 | (header / 4)));
    frame.push_back(0);
    put16(frame, static_cast<uint16_t>(extra.total_length >= 0 ? extra.total_length
                                                               : header + payload.size()));
    put16(frame, extra.id);
    put16(frame,
          static_cast<uint16_t>((extra.more_fragments ? 0x2000 : 0) | (extra.offset_bytes / 8)));
    frame.push_back(64);
    frame.push_back(protocol);
    put16(frame, 0);
    frame.insert(frame.end(), source.begin(), source.end());
    frame.insert(frame.end(), target.begin(), target.end());
    return frame + extra.options + payload;
}

inline Frame ipv6(uint8_t next_header, const Frame& payload, V6 source = kClient6,
                  V6 target = kServer6) {
    Frame frame = {0x60, 0, 0, 0};
    put16(frame, static_cast<uint16_t>(payload.size()));
    frame.push_back(next_header);
    frame.push_back(64);
    frame.insert(frame.end(), source.begin(), source.end());
    frame.insert(frame.end(), target.begin(), target.end());
    return frame + payload;
}

// A hop-by-hop, routing or destination options header of 8 * (units + 1) bytes.
inline Frame ipv6_extension(uint8_t next_header, uint8_t units = 0) {
    Frame frame = {next_header, units};
    frame.resize(8 * (units + 1u), 0);
    if (frame.size() >= 8) frame[2] = 0x01, frame[3] = static_cast<uint8_t>(frame.size() - 4);
    return frame;
}

inline Frame ipv6_fragment(uint8_t next_header, uint16_t offset_bytes, bool more, uint32_t id) {
    Frame frame = {next_header, 0};
    put16(frame, static_cast<uint16_t>(offset_bytes | (more ? 1 : 0)));
    put32(frame, id);
    return frame;
}

inline Frame ethernet(uint16_t ethertype, const Frame& payload) {
    Frame frame = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
    put16(frame, ethertype);
    return frame + payload;
}

inline Frame vlan_tag(uint16_t id, uint16_t next_ethertype) {
    Frame frame;
    put16(frame, id);
    put16(frame, next_ethertype);
    return frame;
}

inline Frame llc_snap(uint16_t ethertype) {
    Frame frame = {0xAA, 0xAA, 0x03, 0, 0, 0};
    put16(frame, ethertype);
    return frame;
}

// A decoder and what it made of the last frame, which it keeps (the packet's payload
// points into it).
struct Decoded {
    Decoder decoder;
    Frame frame;
    Packet packet;
    DecodeResult result = DecodeResult::kMalformed;

    explicit Decoded(const FragmentLimits& limits = {}) : decoder(limits) {}

    DecodeResult run(int linktype, Frame input, int64_t time_us = 1'000'000,
                     int64_t wire_length = -1) {
        frame = std::move(input);
        const auto wire = static_cast<uint32_t>(wire_length >= 0 ? wire_length : frame.size());
        result = decoder.decode(linktype, frame, wire, time_us, packet);
        return result;
    }
    uint64_t count(Anomaly anomaly) const { return decoder.anomalies().get(anomaly); }
    std::vector<uint8_t> payload() const { return {packet.payload.begin(), packet.payload.end()}; }
};

inline IpAddress address(V4 v4) { return IpAddress::v4(v4.data()); }
inline IpAddress address(V6 v6) { return IpAddress::v6(v6.data()); }

}  // namespace pw::decode::test
