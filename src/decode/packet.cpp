#include "decode/packet.h"

#include <arpa/inet.h>

#include <cstring>

#include "decode/decoder.h"

namespace pw::decode {

const char* anomaly_name(Anomaly anomaly) {
    static constexpr const char* kNames[] = {
#define ANOMALY(enumerator, name) name,
#include "decode/anomaly.inc"
#undef ANOMALY
    };
    static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(Anomaly::kCount));
    const auto index = static_cast<size_t>(anomaly);
    return index < static_cast<size_t>(Anomaly::kCount) ? kNames[index] : "unknown_anomaly";
}

uint64_t AnomalyCounters::total() const {
    uint64_t sum = 0;
    for (uint64_t count : counts_) sum += count;
    return sum;
}

void AnomalyCounters::merge(const AnomalyCounters& other) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
}

IpAddress IpAddress::v4(const uint8_t* four_bytes) {
    IpAddress address;
    std::memcpy(address.bytes.data(), four_bytes, 4);
    return address;
}

IpAddress IpAddress::v6(const uint8_t* sixteen_bytes) {
    IpAddress address;
    std::memcpy(address.bytes.data(), sixteen_bytes, 16);
    address.is_v6 = true;
    return address;
}

std::string IpAddress::to_string() const {
    // inet_ntop writes IPv6 in the RFC 5952 form (lower case, longest zero run as "::").
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(is_v6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof(text)) == nullptr) {
        return {};
    }
    return text;
}

}  // namespace pw::decode
