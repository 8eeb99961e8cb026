#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_hsrp_detector();

enum class HsrpMessage : uint8_t {
    kNone,            // not an HSRP message
    kInterfaceState,  // an HSRPv1 Advertise message or an HSRPv2 message with only an
                      // Interface State TLV: it names no group
    kGroup,           // an HSRPv1 message, or an HSRPv2 message with a Group State TLV
};

// Classifies one HSRP datagram: version 1 (RFC 2281) or version 2 (Cisco's TLV format).
HsrpMessage classify_hsrp(std::span<const uint8_t> datagram);

}  // namespace pw::detect
