#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "content/transfer.h"
#include "detect/session.h"

namespace pw::detect::http {

// True when `message` starts with a DNS message (RFC 1035 section 4.1) of the kind DNS
// over HTTPS carries: a standard query or its response, with one question whose name is
// made of hostname labels.
bool is_dns_message(std::span<const uint8_t> message);

// Follows the frames of one direction of an HTTP/2 connection (RFC 9113 section 4.1). It
// checks the start of each DATA frame's payload for a DNS message, and hands the DATA of
// each stream, its body, to a content::TransferScanner, which records the file type.
// NOTE: the headers are compressed (HPACK, RFC 7541) and not decoded, so a body's media
// type and content coding are unknown. A body that starts as gzip data is skipped, since it
// is far more often a compressed page than a .gz file.
class FrameWalker {
  public:
    static constexpr int kMaxFrames = 256;
    // Payload bytes of a DATA frame kept for the check; a DNS question fits easily.
    static constexpr size_t kMaxDataHead = 512;
    // Bodies scanned at once; the DATA of further streams is not scanned.
    static constexpr size_t kMaxBodies = 8;

    // Sets the stream offset of the first frame (after the client's preface).
    void set_start(uint64_t offset) { next_offset_ = offset; }

    // Feeds the direction's bytes that start at stream offset `offset`. Bytes before the
    // first frame are skipped; a gap in the stream ends the walk.
    void feed(std::span<const uint8_t> data, uint64_t offset, Session& session);

    // Ends the bodies still open, at the end of the flow or of the walk.
    void finish(Session& session);

    bool done() const { return done_; }
    bool found_dns() const { return found_dns_; }

  private:
    struct Body {
        uint32_t stream = 0;
        std::unique_ptr<content::TransferScanner> scanner;  // null once skipped or done
        uint64_t bytes = 0;
    };

    void start_frame(Session& session);
    void end_data(Session& session);
    void feed_body(std::span<const uint8_t> data, Session& session);

    uint64_t next_offset_ = 0;
    std::array<uint8_t, 9> header_{};
    size_t header_fill_ = 0;
    uint32_t remaining_ = 0;  // payload bytes of the current frame still to come
    bool in_data_ = false;
    bool padded_ = false;
    std::string data_head_;
    uint32_t stream_ = 0;      // of the current frame
    bool end_stream_ = false;  // the current DATA frame ends its stream
    uint32_t payload_at_ = 0;  // payload bytes of the current frame read so far
    uint32_t body_bytes_ = 0;  // of the current DATA frame, without padding
    Body* body_ = nullptr;     // of the current DATA frame, null when not scanned
    std::vector<Body> bodies_;
    int frames_ = 0;
    bool done_ = false;
    bool found_dns_ = false;
};

}  // namespace pw::detect::http
