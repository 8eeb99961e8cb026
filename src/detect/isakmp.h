#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_isakmp_detector();

// True when `message` starts an IKEv1 or IKEv2 message (RFC 2408, RFC 7296) whose header
// length is `wire_length` and whose first payload header fits in that length. `message` may
// be shorter than `wire_length` when the capture cut the datagram.
bool is_isakmp_message(std::span<const uint8_t> message, size_t wire_length);

}  // namespace pw::detect
