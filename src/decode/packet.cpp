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

std::string IpAddress::to_string() const {
    if (!is_v6) {
        // Dotted quad without the sprintf calls inside inet_ntop: the pipeline
        // writes two addresses per event.
        char text[16];
        char* end = text;
        for (int i = 0; i < 4; ++i) {
            unsigned value = bytes[i];
            if (value >= 100) *end++ = static_cast<char>('0' + value / 100);
            if (value >= 10) *end++ = static_cast<char>('0' + value / 10 % 10);
            *end++ = static_cast<char>('0' + value % 10);
            if (i < 3) *end++ = '.';
        }
        return std::string(text, end);
    }
    // inet_ntop writes IPv6 in the RFC 5952 form (lower case, longest zero run as "::").
    char text[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(AF_INET6, bytes.data(), text, sizeof(text)) == nullptr) return {};
    return text;
}

}  // namespace pw::decode
