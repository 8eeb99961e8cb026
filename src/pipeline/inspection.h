#pragma once

#include <array>
#include <cstdint>

#include "detect/session.h"
#include "flow/tcp_reassembly.h"
#include "pipeline/detector_set.h"

namespace pw::pipeline {

// The deep packet inspection state of one flow, freed as soon as inspection ends.
struct Inspection {
    Inspection(detect::Transport transport, const decode::IpAddress& initiator,
               uint16_t initiator_port, const decode::IpAddress& responder, uint16_t responder_port)
        : session(transport, initiator, initiator_port, responder, responder_port) {}

    detect::Session session;
    DetectorSet finished;        // detectors that returned kNotMine or kDone, or that cannot match
    uint32_t segments = 0;       // segments of this layer, handed to detectors or skipped
    // Bytes of small TCP segments not yet counted in `segments`, fewer than 64. With 16
    // bits the struct takes 248 bytes, one heap chunk of 256 rather than 272.
    uint16_t small_bytes = 0;
    bool inspected_any = false;  // some segment was handed to a detector
    uint8_t sides_with_data =
        0;  // bit 0: the initiator sent data in this layer, bit 1: the responder
    std::array<flow::StreamReassembler, 2> streams;  // TCP only, by flow::Side
};

}  // namespace pw::pipeline
