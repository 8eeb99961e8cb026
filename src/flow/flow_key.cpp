#include "flow/flow_key.h"

#include <algorithm>
#include <cstring>
#include <tuple>

namespace pw::flow {

FlowKey FlowKey::of(const decode::Packet& packet, bool& sender_is_low) {
    FlowKey key;
    key.ip_protocol = packet.ip_protocol;
    key.vlan = packet.vlan;
    sender_is_low =
        std::tie(packet.source, packet.source_port) <= std::tie(packet.target, packet.target_port);
    if (sender_is_low) {
        key.low_ip = packet.source;
        key.low_port = packet.source_port;
        key.high_ip = packet.target;
        key.high_port = packet.target_port;
    } else {
        key.low_ip = packet.target;
        key.low_port = packet.target_port;
        key.high_ip = packet.source;
        key.high_port = packet.source_port;
    }
    return key;
}

namespace {

uint64_t load64(const uint8_t* bytes) {
    uint64_t word;
    std::memcpy(&word, bytes, sizeof word);
    return word;
}

// The finalizer of MurmurHash3 (a public-domain bit mixer): every input bit affects every
// output bit, so that table buckets and worker shards spread evenly.
uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

// Folds the two 64-bit halves of an address into one word.
uint64_t fold(const decode::IpAddress& address) {
    return load64(address.bytes.data()) * 0x9e3779b97f4a7c15ull ^ load64(address.bytes.data() + 8);
}

}  // namespace

size_t FlowKey::hash() const {
    // The canonical order of the key already makes the hash the same in both directions.
    uint64_t h = fold(low_ip);
    h = mix64(h ^ fold(high_ip) * 0xc2b2ae3d27d4eb4full);
    h ^= (uint64_t{low_port} << 48) | (uint64_t{high_port} << 32) | (uint64_t{ip_protocol} << 24) |
         vlan;
    return static_cast<size_t>(mix64(h));
}

uint64_t address_pair_hash(const decode::IpAddress& a, const decode::IpAddress& b) {
    // Order-independent: the same for both directions.
    uint64_t x = mix64(fold(a));
    uint64_t y = mix64(fold(b));
    return mix64(std::min(x, y) * 0x9e3779b97f4a7c15ull ^ std::max(x, y));
}

}  // namespace pw::flow
