#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_snmp_detector();

// True when `datagram` starts one SNMP v1, v2c or v3 message whose outer SEQUENCE spans
// exactly `wire_length` bytes. `datagram` may be shorter than `wire_length` when the capture
// cut the packet. The fields that were captured must then still be consistent.
bool is_snmp_message(std::span<const uint8_t> datagram, size_t wire_length);

}  // namespace pw::detect
