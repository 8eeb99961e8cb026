#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "detect/http_body.h"
#include "detect/http_message.h"
#include "detect/session.h"

namespace pw::detect::http {

// How a message's body is delimited (RFC 9112 section 6.3), as decided from its head and,
// for a response, from the request it belongs to.
enum class Framing : uint8_t {
    kNone,        // no body: the next message follows the head
    kLength,      // Content-Length bytes
    kChunked,     // the chunked transfer coding
    kUntilClose,  // a response without a length: everything up to the end of the stream
    kTunnel,      // the connection now carries another protocol: stop parsing
    kInnerLayer,  // as kTunnel, but the other protocol starts with the next segment
    kUnframed,    // a request body of no determinable length: wait for the next message
};

// Receives what a MessageStream finds.
class MessageHandler {
  public:
    virtual ~MessageHandler() = default;

    struct Decision {
        Framing framing = Framing::kNone;
        uint64_t length = 0;             // kLength
        std::unique_ptr<BodySink> sink;  // the body's destination, null to skip it
    };
    // Called once per message as soon as its start line is known valid, before the head
    // is complete: a long target or a capture's snapshot length may cut the head short.
    virtual void on_start_line(int direction) = 0;
    // Called with each complete message head of direction `direction` (0 initiator).
    virtual Decision on_head(int direction, const MessageHead& head) = 0;
    // Called when the HTTP/2 connection preface appears where a message was expected.
    virtual void on_http2_preface(int direction) = 0;
};

// Parses one direction of an HTTP/1.x connection as it arrives, message by message. When
// it loses track (a gap in the stream, an invalid head), it waits for the start of a
// later segment that begins a message: a new request or response usually starts a write.
class MessageStream {
  public:
    static constexpr size_t kMaxHeadBytes = 16 * 1024;
    static constexpr size_t kMaxLineBytes = 1024;  // chunk-size and trailer lines
    // A start line still unfinished after this many bytes is judged by its beginning.
    static constexpr size_t kLongStartLine = 256;

    // Consumes the direction's next bytes, which start at stream offset `offset`.
    // `truncated` is true when the capture cut the packet that carried them short.
    void consume(std::span<const uint8_t> data, uint64_t offset, bool truncated, int direction,
                 Session& session, MessageHandler& handler);

    // Stops parsing for good once the current message ends.
    void stop_after_message();
    // Stops parsing for good at once: the connection carries another protocol.
    void tunnel(Session& session);
    // Forgets the current message: the next segment may start a message of an inner layer.
    void restart(Session& session);

    // True once nothing more will be parsed.
    bool stopped() const { return state_ == State::kStopped; }
    // True while the stream waits for a segment that starts a message.
    bool lost() const { return state_ == State::kLost; }
    // True when bytes where a message had to start, with no gap before them, were not an
    // HTTP start line: the connection has gone over to another protocol.
    bool left_http() const { return left_http_; }
    // Finishes a body cut short by the end of the flow.
    void finish(Session& session);
    // The stream offset up to which the bytes ahead are the rest of a body whose content
    // needs no more reading, so the caller may skip them; 0 when there is no such body.
    uint64_t skippable_until() const;
    // Records that the caller will skip up to skippable_until(): the offsets it then jumps
    // over are planned, not a gap in the capture.
    void offer_skip() { body_skippable_ = true; }

  private:
    enum class State : uint8_t {
        kIdle,
        kLost,
        kHead,
        kBody,
        kChunkSize,
        kChunkData,
        kChunkEnd,
        kTrailer,
        kUntilClose,
        kStopped,
    };

    size_t read_head(std::span<const uint8_t> data, bool truncated, int direction, Session& session,
                     MessageHandler& handler);
    size_t read_body(std::span<const uint8_t> data, Session& session);
    size_t read_line(std::span<const uint8_t> data, Session& session, bool& complete);
    void read_chunk_size(Session& session);
    void start_body(MessageHandler::Decision decision, Session& session);
    void end_message(Session& session);
    void lose_track(Session& session);
    void reject_start_line(Session& session);
    void skip_gap(uint64_t gap, Session& session);

    State state_ = State::kIdle;
    bool started_ = false;
    bool stop_after_message_ = false;
    bool start_line_reported_ = false;
    bool gap_skipped_ = false;
    bool body_skippable_ = false;  // skippable_until() was offered for the current body
    bool left_http_ = false;
    uint64_t next_offset_ = 0;
    uint64_t remaining_ = 0;  // kBody and kChunkData
    std::string buffer_;      // the head, or a chunk-size or trailer line, being received
    std::unique_ptr<BodySink> sink_;
};

}  // namespace pw::detect::http
