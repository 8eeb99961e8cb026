#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>

#include "decode/packet.h"

namespace pw::flow {

// The identity of a flow: transport, the two endpoints in a canonical order (the lower
// address and port first) and the VLAN ids, so both directions of a flow map to one key.
struct FlowKey {
    decode::IpAddress low_ip;
    decode::IpAddress high_ip;
    uint16_t low_port = 0;
    uint16_t high_port = 0;
    uint8_t ip_protocol = 0;
    uint32_t vlan = 0;

    // Compares the fields word by word: the defaulted comparison calls memcmp for each
    // address, and the flow table compares keys on every packet.
    bool operator==(const FlowKey& other) const;

    // Builds the key of `packet`; `sender_is_low` tells whether the packet's source is the
    // key's low endpoint.
    static FlowKey of(const decode::Packet& packet, bool& sender_is_low);

    // A hash that is the same for both directions of a flow, which also makes it usable to
    // shard flows across worker threads.
    size_t hash() const;
};

namespace detail {

// The finalizer of MurmurHash3 (a public-domain bit mixer): every input bit affects every
// output bit, so that table buckets and worker shards spread evenly.
inline uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

// Folds the two 64-bit halves of an address into one word.
inline uint64_t fold(const decode::IpAddress& address) {
    uint64_t high;
    uint64_t low;
    std::memcpy(&high, address.bytes.data(), sizeof high);
    std::memcpy(&low, address.bytes.data() + 8, sizeof low);
    return high * 0x9e3779b97f4a7c15ull ^ low;
}

// fold() of the address that IpAddress::set_v4() or set_v6() would make of `bytes`, read
// from the bytes themselves. Reading the copy instead makes the CPU wait for the copy's
// narrower stores to land before one wide load can see them.
inline uint64_t fold(const uint8_t* bytes, bool v6) {
    uint64_t high = 0;
    uint64_t low = 0;
    std::memcpy(&high, bytes, v6 ? 8 : 4);
    if (v6) std::memcpy(&low, bytes + 8, sizeof low);
    return high * 0x9e3779b97f4a7c15ull ^ low;
}

}  // namespace detail

// A hash of two addresses that is the same in either order, since a sum does not depend
// on it. Workers are sharded by the innermost address pair of a frame rather than by the
// flow key. So IP fragments and the data connections that FTP, TFTP and others announce
// reach the worker that tracks the rest of their conversation. The reading thread hashes
// every frame, so the hash is one multiplication of the sum. Its high bits are well mixed,
// and they are the ones to use.
inline uint64_t address_pair_hash(const decode::IpAddress& a, const decode::IpAddress& b) {
    return (detail::fold(a) + detail::fold(b)) * 0xff51afd7ed558ccdull;
}

// The same hash of two addresses of one family, 4 or 16 bytes each, where a frame has them.
inline uint64_t address_pair_hash(const uint8_t* a, const uint8_t* b, bool v6) {
    return (detail::fold(a, v6) + detail::fold(b, v6)) * 0xff51afd7ed558ccdull;
}

struct FlowKeyHash {
    size_t operator()(const FlowKey& key) const { return key.hash(); }
};

}  // namespace pw::flow
