#pragma once

#include <array>
#include <bitset>
#include <cstdint>

#include "detect/session.h"
#include "flow/tcp_reassembly.h"

namespace pw::pipeline {

// The maximum number of detectors the registry may hold.
inline constexpr size_t kMaxDetectors = 128;

// The deep packet inspection state of one flow, freed as soon as inspection ends.
struct Inspection {
    Inspection(detect::Transport transport, const decode::IpAddress& initiator,
               uint16_t initiator_port, const decode::IpAddress& responder, uint16_t responder_port)
        : session(transport, initiator, initiator_port, responder, responder_port) {}

    detect::Session session;
    std::bitset<kMaxDetectors> finished;  // detectors that returned kNotMine or kDone
    uint32_t segments = 0;                // segments of this layer, handed to detectors or skipped
    bool inspected_any = false;           // some segment was handed to a detector
    std::array<flow::StreamReassembler, 2> streams;  // TCP only, by flow::Side
};

}  // namespace pw::pipeline
