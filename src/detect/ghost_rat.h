#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_ghost_rat_detector();

// What the start of one Gh0st message shows.
struct GhostFrame {
    size_t flag_length = 0;     // printable flag bytes before the lengths, "Gh0st" has five
    uint32_t total_length = 0;  // of the whole message, flag included
    uint32_t plain_length = 0;  // of the payload once inflated
    // True when the whole message was there and its stream inflated to exactly plain_length
    // bytes. False when only its start was there and inflated without error.
    bool whole = false;
};

// Recognizes the framing at the start of `data`: a flag of printable bytes, the message's
// total length and its uncompressed length (both 32-bit little-endian), then a zlib stream.
// `data` may hold less than the message (the rest follows in later segments) or more (the
// next message). Returns nullopt unless the stream inflates without error, within bounds.
std::optional<GhostFrame> parse_ghost_frame(std::span<const uint8_t> data);

}  // namespace pw::detect
