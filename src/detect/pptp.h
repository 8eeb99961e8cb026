#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_pptp_detector();

// True when `data` starts a PPTP control message (RFC 2637): a length that matches the
// control message type, message type 1, the magic cookie and a zero reserved field. At
// least the first 12 octets must be present.
bool is_pptp_control_message(std::span<const uint8_t> data);

}  // namespace pw::detect
