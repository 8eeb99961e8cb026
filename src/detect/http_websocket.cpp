#include "detect/http_websocket.h"

namespace pw::detect::http {
namespace {

constexpr size_t kMaxFramesPerSegment = 64;

bool is_defined_opcode(uint8_t opcode) {
    // Continuation, text, binary; close, ping, pong.
    return opcode <= 2 || (opcode >= 8 && opcode <= 10);
}

}  // namespace

std::optional<bool> parse_websocket_frames(std::span<const uint8_t> data) {
    std::optional<bool> masked;
    size_t at = 0;
    for (size_t frames = 0; at < data.size(); ++frames) {
        if (frames == kMaxFramesPerSegment || data.size() - at < 2) return std::nullopt;
        uint8_t first = data[at];
        uint8_t second = data[at + 1];
        uint8_t opcode = first & 0x0f;
        // RSV2 and RSV3 have no registered extension; RSV1 marks permessage-deflate.
        if ((first & 0x30) != 0 || !is_defined_opcode(opcode)) return std::nullopt;
        bool frame_masked = (second & 0x80) != 0;
        if (masked && *masked != frame_masked) return std::nullopt;
        masked = frame_masked;
        uint64_t length = second & 0x7f;
        size_t header = 2;
        if (length == 126 || length == 127) {
            size_t width = length == 126 ? 2 : 8;
            if (data.size() - at < header + width) return std::nullopt;
            length = 0;
            for (size_t i = 0; i < width; ++i) length = length << 8 | data[at + header + i];
            header += width;
            // The shortest encoding is required, and the top bit of a 64-bit length is 0.
            if ((width == 2 && length < 126) || (width == 8 && (length >> 63 || length <= 0xffff)))
                return std::nullopt;
        }
        // Control frames are never fragmented and carry at most 125 bytes.
        if (opcode >= 8 && ((first & 0x80) == 0 || length > 125)) return std::nullopt;
        if (frame_masked) header += 4;
        if (data.size() - at < header || length > data.size() - at - header) return std::nullopt;
        at += header + static_cast<size_t>(length);
    }
    return masked;
}

bool WebSocketFrameTracker::add(int direction, std::span<const uint8_t> data) {
    if (failed_) return false;
    std::optional<bool> masked = parse_websocket_frames(data);
    if (!masked || (segments_[direction] > 0 && masked_[direction] != *masked)) {
        failed_ = true;
        return false;
    }
    masked_[direction] = *masked;
    ++segments_[direction];
    return segments_[0] > 0 && segments_[1] > 0 && masked_[0] != masked_[1] &&
           segments_[0] + segments_[1] >= kMinSegments;
}

}  // namespace pw::detect::http
