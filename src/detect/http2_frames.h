#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace pw::detect::http {

// True when `message` starts with a DNS message (RFC 1035 section 4.1) of the kind DNS
// over HTTPS carries: a standard query or its response, with one question whose name is
// made of hostname labels.
bool is_dns_message(std::span<const uint8_t> message);

// Follows the frames of one direction of an HTTP/2 connection (RFC 9113 section 4.1) and
// checks the start of each DATA frame's payload for a DNS message.
class FrameWalker {
  public:
    static constexpr int kMaxFrames = 256;
    // Payload bytes of a DATA frame kept for the check; a DNS question fits easily.
    static constexpr size_t kMaxDataHead = 512;

    // Sets the stream offset of the first frame (after the client's preface).
    void set_start(uint64_t offset) { next_offset_ = offset; }

    // Feeds the direction's bytes that start at stream offset `offset`. Bytes before the
    // first frame are skipped; a gap in the stream ends the walk.
    void feed(std::span<const uint8_t> data, uint64_t offset);

    bool done() const { return done_; }
    bool found_dns() const { return found_dns_; }

  private:
    void start_frame();
    void end_data();

    uint64_t next_offset_ = 0;
    std::array<uint8_t, 9> header_{};
    size_t header_fill_ = 0;
    uint32_t remaining_ = 0;  // payload bytes of the current frame still to come
    bool in_data_ = false;
    bool padded_ = false;
    std::string data_head_;
    int frames_ = 0;
    bool done_ = false;
    bool found_dns_ = false;
};

}  // namespace pw::detect::http
