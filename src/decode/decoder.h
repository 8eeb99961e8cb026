#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "decode/packet.h"

namespace pw::decode {

// Counts of each named anomaly.
class AnomalyCounters {
  public:
    void add(Anomaly anomaly, uint64_t count = 1) {
        counts_[static_cast<size_t>(anomaly)] += count;
    }
    uint64_t get(Anomaly anomaly) const { return counts_[static_cast<size_t>(anomaly)]; }
    uint64_t total() const;
    void merge(const AnomalyCounters& other);

  private:
    std::array<uint64_t, static_cast<size_t>(Anomaly::kCount)> counts_{};
};

// Bounds on IP fragment reassembly.
struct FragmentLimits {
    size_t max_datagrams = 4096;            // datagrams being reassembled at once
    size_t max_bytes = 16 * 1024 * 1024;    // bytes held by all of them together
    size_t max_datagram_size = 65535 + 40;  // largest datagram accepted
    int64_t timeout_us = 30 * 1000 * 1000;  // an incomplete datagram is dropped after
};

enum class DecodeResult : uint8_t {
    kPacket,      // `out` holds a packet of a tracked transport
    kHeld,        // an IP fragment, kept until its datagram completes
    kNotTracked,  // a frame that is not IP, or IP of a transport that is not tracked
    kMalformed,   // an anomaly was counted and the frame skipped
};

class FragmentReassembler;  // decode/fragments.h

// Decodes captured frames of the link types real captures use down to the transport
// payload, reassembling IP fragments and unwrapping common tunnels. Every header read is
// bounds-checked; malformed input is counted as a named anomaly.
//
// Link types: Ethernet (II, and 802.3 with LLC/SNAP; 802.1Q, 802.1ad and 0x9100 tags,
// MPLS, PPPoE, MACsec without encryption), Linux cooked v1 and v2, BSD loopback (null and
// loop), raw IP (DLT_RAW under each of its values, LINKTYPE_RAW 101, DLT_IPV4, DLT_IPV6),
// PPP, PPP in HDLC framing, Cisco HDLC, PPPoE, 802.11 data frames (bare, radiotap, PPI),
// NFLOG, PKTAP, FDDI, Linux ARCnet and Solaris IPNET.
// Tunnels (at most 16 deep): GRE versions 0 and 1 (with ERSPAN I-III, transparent Ethernet,
// Cisco metadata, PPP), IPv4 and IPv6 in IP, PIM registers, and over UDP GTP-U (2152),
// VXLAN (4789), Geneve (6081), CAPWAP data (5247, with 802.3 or 802.11 inside), AYIYA
// (5072) and L2TP version 2 data with PPP inside (1701). UDP tunnels are unwrapped only
// when their header checks out. Teredo is not.
//
// A packet whose transport payload the snapshot length cut is still returned (kPacket),
// with packet_truncated_by_snaplen counted.
// The IP fragment a frame contains, as Decoder::addresses() finds it: the outermost one.
struct FragmentPlace {
    bool found = false;
    IpAddress source;  // of the IP header that contains it
    IpAddress target;
    uint32_t id = 0;
    uint8_t protocol = 0;  // IPv4's; 0 for IPv6
    bool first = false;    // at offset 0
    bool last = false;     // no more fragments follow
    // What the datagram carries: IPv4's protocol, or the next header of IPv6's fragment
    // header. Every fragment shows it.
    uint8_t carried = 0;
    uint32_t length = 0;  // the datagram payload bytes it contains, as captured
    uint32_t offset = 0;  // the offset of those bytes in the datagram payload
};

class Decoder {
  public:
    explicit Decoder(const FragmentLimits& limits = {});
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    // True when `linktype` (a libpcap DLT_ value) is one the decoder reads.
    static bool supports_link_type(int linktype);

    DecodeResult decode(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                        int64_t time_us, Packet& out);

    // Decodes the headers of `frame` as decode() does, down to the innermost IP header of
    // a tunnel, but reassembles nothing and counts no anomaly: `out.source` and
    // `out.target` are the innermost addresses. Returns kHeld for a fragment that does
    // not end its datagram. For TCP and UDP over Ethernet without tunnels, only the
    // addresses, `ip_protocol` and the ports are set. `wire_length` is as decode() takes
    // it: a frame cut short by the snapshot length gets the result decode() gives it.
    //
    // A frame that contains an IP fragment also fills `fragment` (when given). A fragment at
    // offset 0 contains the headers of what its datagram carries, so its addresses are the
    // innermost ones read there, as if the datagram were whole. A later fragment's are
    // those of its own IP header. The sharded pipeline calls it to pick the worker of a
    // frame before the worker decodes it.
    DecodeResult addresses(int linktype, std::span<const uint8_t> frame, uint32_t wire_length,
                           Packet& out, FragmentPlace* fragment = nullptr);

    // The part of addresses() for the frame shapes most traffic has (Ethernet II with at
    // most one 802.1Q tag, IPv4 that is not a fragment or IPv6 without extension headers,
    // and TCP or UDP off tunnel ports), read without the full decoder. Returns true with
    // the addresses, `ip_protocol` and ports set when decode() would return kPacket for
    // the frame with those addresses (its wire length being its captured length), and
    // false for any other frame.
    static bool plain_addresses(int linktype, std::span<const uint8_t> frame, Packet& out);

    // Finds the addresses that a sharded pipeline picks the worker of a frame by, without
    // the full decoder. It reads the shapes most traffic has: Ethernet II with at most one
    // 802.1Q tag, IPv4 that is not a fragment or IPv6 without extension headers, and TCP,
    // UDP off tunnel ports, ICMP, ICMPv6 or IGMP. Returns true when decode() either returns
    // a packet with those addresses or no packet at all (a malformed frame), and false for
    // any other frame. Unlike plain_addresses() it checks no transport header. `source`
    // and `target` then point into the frame, at 16 bytes each with `v6`, else 4.
    static bool shard_addresses(int linktype, std::span<const uint8_t> frame,
                                const uint8_t*& source, const uint8_t*& target, bool& v6);

    const AnomalyCounters& anomalies() const { return anomalies_; }
    AnomalyCounters& anomalies() { return anomalies_; }

    // Bytes held for fragment reassembly (the data and the bookkeeping).
    size_t memory_bytes() const;

    // Drops the incomplete datagram that has waited the longest. Returns false when none
    // is held.
    bool evict_oldest_fragments();

    // Drops the incomplete datagrams that have waited longer than the fragment timeout at
    // `now_us`, counting each as fragment_reassembly_timeout. decode() does not, so that
    // the caller chooses the moments: a pipeline's looks for idle flows, which fall on the
    // same frames however the frames are shared between threads.
    void expire_fragments(int64_t now_us);

    // Drops every incomplete datagram at the end of the input, counting each as
    // fragment_incomplete_at_end.
    void end_fragments();

  private:
    AnomalyCounters anomalies_;
    std::unique_ptr<FragmentReassembler> fragments_;
};

}  // namespace pw::decode
