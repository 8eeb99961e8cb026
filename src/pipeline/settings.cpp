#include "pipeline/settings.h"

#include <arpa/inet.h>

#include <charconv>
#include <stdexcept>

namespace pw::pipeline {

Cidr Cidr::parse(const std::string& text) {
    std::string address = text;
    int prefix = -1;
    if (auto slash = text.find('/'); slash != std::string::npos) {
        address = text.substr(0, slash);
        std::string digits = text.substr(slash + 1);
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
        if (error != std::errc() || end != digits.data() + digits.size() || digits.empty()) {
            throw std::invalid_argument("invalid network '" + text +
                                        "': the prefix length after '/' must be a number");
        }
    }
    Cidr cidr;
    uint8_t bytes[16] = {};
    if (inet_pton(AF_INET, address.c_str(), bytes) == 1) {
        cidr.network = decode::IpAddress::v4(bytes);
        if (prefix == -1) prefix = 32;
        if (prefix > 32) {
            throw std::invalid_argument("invalid network '" + text +
                                        "': an IPv4 prefix length is at most 32");
        }
    } else if (inet_pton(AF_INET6, address.c_str(), bytes) == 1) {
        cidr.network = decode::IpAddress::v6(bytes);
        if (prefix == -1) prefix = 128;
        if (prefix > 128) {
            throw std::invalid_argument("invalid network '" + text +
                                        "': an IPv6 prefix length is at most 128");
        }
    } else {
        throw std::invalid_argument("invalid network '" + text +
                                    "': expected an address or CIDR such as 10.0.0.0/8 or "
                                    "fd00::/8");
    }
    cidr.prefix_length = static_cast<uint8_t>(prefix);
    return cidr;
}

bool Cidr::contains(const decode::IpAddress& address) const {
    if (address.is_v6 != network.is_v6) return false;
    unsigned full_bytes = prefix_length / 8;
    unsigned rest_bits = prefix_length % 8;
    for (unsigned i = 0; i < full_bytes; ++i) {
        if (address.bytes[i] != network.bytes[i]) return false;
    }
    if (rest_bits == 0) return true;
    uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest_bits));
    return (address.bytes[full_bytes] & mask) == (network.bytes[full_bytes] & mask);
}

}  // namespace pw::pipeline
