#include "flow/flow_key.h"

#include <cstring>
#include <tuple>

namespace pw::flow {

FlowKey FlowKey::of(const decode::Packet& packet, bool& sender_is_low) {
    FlowKey key;
    key.ip_protocol = packet.ip_protocol;
    key.vlan = packet.vlan;
    sender_is_low = std::tie(packet.source, packet.source_port) <=
                    std::tie(packet.target, packet.target_port);
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
    // FNV-1a over the canonical fields: cheap, and the canonical order already makes it
    // symmetric in the two directions.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const void* data, size_t size) {
        const auto* bytes = static_cast<const uint8_t*>(data);
        for (size_t i = 0; i < size; ++i) {
            h ^= bytes[i];
            h *= 1099511628211ull;
        }
    };
    mix(low_ip.bytes.data(), low_ip.bytes.size());
    mix(high_ip.bytes.data(), high_ip.bytes.size());
    mix(&low_port, sizeof low_port);
    mix(&high_port, sizeof high_port);
    mix(&ip_protocol, sizeof ip_protocol);
    mix(&vlan, sizeof vlan);
    return static_cast<size_t>(h);
}

}  // namespace pw::flow
