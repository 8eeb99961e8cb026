#include "flow/flow_key.h"

#include <algorithm>
#include <cstring>

namespace pw::flow {

namespace {

uint64_t load64(const uint8_t* bytes) {
    uint64_t word;
    std::memcpy(&word, bytes, sizeof word);
    return word;
}

bool same_address(const decode::IpAddress& a, const decode::IpAddress& b) {
    return load64(a.bytes.data()) == load64(b.bytes.data()) &&
           load64(a.bytes.data() + 8) == load64(b.bytes.data() + 8) && a.is_v6 == b.is_v6;
}

// The order of IpAddress's defaulted <=> (its bytes in order, then is_v6), as -1, 0 or 1:
// big-endian words compare as their bytes do.
int compare_addresses(const decode::IpAddress& a, const decode::IpAddress& b) {
    for (size_t offset : {0, 8}) {
        uint64_t x = __builtin_bswap64(load64(a.bytes.data() + offset));
        uint64_t y = __builtin_bswap64(load64(b.bytes.data() + offset));
        if (x != y) return x < y ? -1 : 1;
    }
    if (a.is_v6 != b.is_v6) return a.is_v6 ? 1 : -1;
    return 0;
}

}  // namespace

bool FlowKey::operator==(const FlowKey& other) const {
    return same_address(low_ip, other.low_ip) && same_address(high_ip, other.high_ip) &&
           low_port == other.low_port && high_port == other.high_port &&
           ip_protocol == other.ip_protocol && vlan == other.vlan;
}

FlowKey FlowKey::of(const decode::Packet& packet, bool& sender_is_low) {
    FlowKey key;
    key.ip_protocol = packet.ip_protocol;
    key.vlan = packet.vlan;
    // (source, source port) <= (target, target port), in the order of IpAddress's <=>.
    int order = compare_addresses(packet.source, packet.target);
    sender_is_low = order < 0 || (order == 0 && packet.source_port <= packet.target_port);
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

size_t FlowKey::hash() const {
    // The canonical order of the key already makes the hash the same in both directions.
    uint64_t h = detail::fold(low_ip);
    h = detail::mix64(h ^ detail::fold(high_ip) * 0xc2b2ae3d27d4eb4full);
    h ^= (uint64_t{low_port} << 48) | (uint64_t{high_port} << 32) | (uint64_t{ip_protocol} << 24) |
         vlan;
    return static_cast<size_t>(detail::mix64(h));
}

}  // namespace pw::flow
