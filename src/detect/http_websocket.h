#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace pw::detect::http {

// Returns whether the frames in `data` are masked when `data` is exactly a sequence of
// whole WebSocket frames (RFC 6455 section 5.2) that agree on masking, or nullopt.
std::optional<bool> parse_websocket_frames(std::span<const uint8_t> data);

// Recognizes a WebSocket connection whose opening handshake is not in the capture. Every
// segment of both directions so far must consist of whole frames, masked in one direction
// and unmasked in the other, as RFC 6455 section 5.1 requires of clients and servers.
class WebSocketFrameTracker {
  public:
    // Segments of whole frames needed, across both directions, with at least one each.
    static constexpr uint32_t kMinSegments = 4;

    // Checks one segment; returns true once the connection is recognized.
    bool add(int direction, std::span<const uint8_t> data);

  private:
    std::array<uint32_t, 2> segments_{};
    std::array<bool, 2> masked_{};
    bool failed_ = false;
};

}  // namespace pw::detect::http
