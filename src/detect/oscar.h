#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace pw::detect::oscar {

// The FLAP frames (6-byte header: 0x2A, channel, sequence, data length) at the start of
// one segment.
struct FlapRun {
    bool valid = false;        // every header seen is well formed
    bool exact = false;        // the segment ends where its last frame ends
    bool sign_on = false;      // the first frame opens a connection: channel 1, FLAP version 1
    bool in_sequence = false;  // each frame's sequence number follows the previous one's
    size_t frames = 0;         // complete frames
    size_t missing = 0;        // bytes of the last frame that the segment does not hold
    bool header_cut = false;   // the segment ends inside a frame header
    uint16_t first_sequence = 0;
    uint16_t last_sequence = 0;
};

FlapRun scan_flaps(std::span<const uint8_t> data);

}  // namespace pw::detect::oscar
