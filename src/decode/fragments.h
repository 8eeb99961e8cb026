#pragma once

// IP fragment reassembly (RFC 791 for IPv4, RFC 8200 for IPv6), bounded by FragmentLimits.
// Overlapping fragments keep the data that arrived first (and count fragment_overlap):
// a later fragment cannot rewrite bytes an earlier one supplied.

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "decode/decoder.h"
#include "decode/packet.h"

namespace pw::decode {

// What identifies the fragments of one datagram.
struct FragmentKey {
    IpAddress source;
    IpAddress target;
    uint32_t id = 0;
    // The IPv4 protocol. IPv6 keys on the addresses and id alone (RFC 8200 section 4.5),
    // so it is 0 there and the protocol comes from the fragment at offset 0.
    uint8_t protocol = 0;
    bool operator==(const FragmentKey&) const = default;
};

struct FragmentKeyHash {
    size_t operator()(const FragmentKey& key) const;
};

// One fragment as the IP decoder found it.
struct Fragment {
    FragmentKey key;
    uint32_t offset = 0;            // of its data in the datagram's payload, in bytes
    bool more = false;              // more fragments follow (not the last one)
    std::span<const uint8_t> data;  // its data as captured
    uint32_t wire_length = 0;       // its data's length on the wire
    uint32_t header_length = 0;     // IP header bytes before the data
    uint8_t next_header = 0;        // protocol of the payload, taken from offset 0
};

// A datagram whose fragments have all arrived.
struct Reassembled {
    std::span<const uint8_t> data;  // its payload as captured: shorter than wire_length
                                    // when the snapshot length cut one of its fragments
    uint32_t wire_length = 0;       // its payload's length on the wire
    uint32_t header_length = 0;     // IP header bytes of the fragment at offset 0
    uint8_t next_header = 0;
};

class FragmentReassembler {
public:
    enum class Result : uint8_t {
        kHeld,      // kept until the rest arrives
        kComplete,  // `done` holds the datagram
        kDropped,   // the fragment (and maybe its datagram) was discarded; anomaly counted
    };

    explicit FragmentReassembler(const FragmentLimits& limits) : limits_(limits) {}

    Result add(const Fragment& fragment, int64_t time_us, AnomalyCounters& anomalies,
               Reassembled& done);

    // Drops the datagrams that have waited longer than the timeout at `time_us`. add() does
    // not call it, so that the caller chooses moments that do not depend on which fragments
    // it was given.
    void expire(int64_t time_us, AnomalyCounters& anomalies);

    // Drops every datagram still incomplete, counting each, at the end of the input.
    void drop_incomplete(AnomalyCounters& anomalies);

    // Frees the datagrams handed out by `add`. The decoder calls it at each new frame,
    // which is why a reassembled payload stays valid until the next decode call.
    void release() { released_.clear(); }

    size_t memory_bytes() const;
    size_t datagrams() const { return index_.size(); }

    // Drops the incomplete datagram whose first fragment is the oldest; false when none is
    // held.
    bool evict_oldest();

private:
    using Range = std::pair<uint32_t, uint32_t>;  // [begin, end) of payload bytes held

    struct Datagram {
        FragmentKey key;
        std::vector<uint8_t> data;
        std::vector<Range> ranges;  // sorted, disjoint and not adjacent
        uint32_t total = 0;         // payload length, once the last fragment came
        bool have_total = false;
        uint32_t captured_end = UINT32_MAX;  // first payload byte the snapshot length cut
        uint32_t header_length = 0;
        uint8_t next_header = 0;
    };
    using Iterator = std::multimap<int64_t, Datagram>::iterator;

    Iterator find_or_create(const FragmentKey& key, int64_t time_us, AnomalyCounters& anomalies);
    bool make_room(Iterator keep, size_t bytes, AnomalyCounters& anomalies);
    bool store(Datagram& datagram, const Fragment& fragment);
    void drop(Iterator it);

    FragmentLimits limits_;
    // The datagrams by the time of their first fragment, the oldest first, and of one time
    // in order of arrival.
    std::multimap<int64_t, Datagram> order_;
    std::unordered_map<FragmentKey, Iterator, FragmentKeyHash> index_;
    std::vector<std::vector<uint8_t>> released_;
    size_t data_bytes_ = 0;
    size_t range_count_ = 0;
};

}  // namespace pw::decode
