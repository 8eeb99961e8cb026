#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_zeus_detector();

// The 44-byte header of a GameOver Zeus P2P message once its XOR chain is undone.
struct ZeusHeader {
    uint8_t random = 0;
    uint8_t ttl = 0;
    uint8_t padding = 0;  // the "LOP": random bytes after the payload
    uint8_t type = 0;
    std::array<uint8_t, 20> session_id{};
    std::array<uint8_t, 20> source_id{};
    size_t payload_length = 0;  // message length less the header and the padding
};

inline constexpr size_t kZeusHeaderLength = 44;

// Undoes the XOR chain ("visual encryption": each byte was XORed with the encrypted byte
// before it) over the header of `message`, whose whole length is `length`, and returns the
// header. Returns nullopt when the message is shorter than its header and padding or the
// random byte is zero.
std::optional<ZeusHeader> decode_zeus_header(std::span<const uint8_t> message, size_t length);

}  // namespace pw::detect
