#include "detect/http_stream.h"

#include <algorithm>
#include <cctype>
#include <limits>

namespace pw::detect::http {
namespace {

constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

std::string_view as_text(std::span<const uint8_t> data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// Returns the end of the empty line that ends a head, searching from `from`, or npos.
size_t find_head_end(std::string_view buffer, size_t from) {
    for (size_t at = buffer.find('\n', from); at != std::string_view::npos;
         at = buffer.find('\n', at + 1)) {
        if (at + 1 < buffer.size() && buffer[at + 1] == '\n') return at + 2;
        if (at + 2 < buffer.size() && buffer[at + 1] == '\r' && buffer[at + 2] == '\n')
            return at + 3;
    }
    return std::string_view::npos;
}

}  // namespace

void MessageStream::consume(std::span<const uint8_t> data, uint64_t offset, bool truncated,
                            int direction, Session& session, MessageHandler& handler) {
    if (state_ == State::kStopped) return;
    if (started_ && offset > next_offset_) {
        uint64_t skipped = offset - next_offset_;
        bool planned =
            body_skippable_ && sink_ == nullptr &&
            (state_ == State::kUntilClose ||
             ((state_ == State::kBody || state_ == State::kChunkData) && skipped <= remaining_));
        if (!planned) {
            skip_gap(skipped, session);
        } else if (state_ != State::kUntilClose) {
            // Bytes the caller skipped on skippable_until()'s word: the framing still holds.
            remaining_ -= skipped;
            if (remaining_ == 0 && state_ == State::kBody) end_message(session);
            if (remaining_ == 0 && state_ == State::kChunkData) state_ = State::kChunkEnd;
        }
    }
    body_skippable_ = false;
    started_ = true;
    next_offset_ = offset + data.size();

    bool segment_start = true;
    size_t at = 0;
    while (at < data.size() && state_ != State::kStopped) {
        std::span<const uint8_t> rest = data.subspan(at);
        switch (state_) {
            case State::kLost:
                if (!segment_start) {
                    at = data.size();
                    break;
                }
                [[fallthrough]];
            case State::kIdle: {
                // Empty lines before a start line are allowed (RFC 9112 section 2.2).
                size_t blank = 0;
                while (blank < rest.size() && (rest[blank] == '\r' || rest[blank] == '\n')) ++blank;
                at += blank;
                buffer_.clear();
                start_line_reported_ = false;
                if (at < data.size()) state_ = State::kHead;
                break;
            }
            case State::kHead:
                at += read_head(rest, truncated, direction, session, handler);
                break;
            case State::kBody:
            case State::kChunkData:
            case State::kUntilClose:
                at += read_body(rest, session);
                break;
            case State::kChunkSize: {
                bool complete = false;
                at += read_line(rest, session, complete);
                if (complete) read_chunk_size(session);
                break;
            }
            case State::kChunkEnd:
                // The CRLF after chunk data; a sender that omits it is tolerated.
                if (rest[0] == '\r' || rest[0] == '\n') ++at;
                if (rest[0] != '\r') {
                    state_ = State::kChunkSize;
                    buffer_.clear();
                }
                break;
            case State::kTrailer: {
                bool complete = false;
                at += read_line(rest, session, complete);
                if (!complete) break;
                std::string_view line = buffer_;
                while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
                    line.remove_suffix(1);
                if (line.empty()) {
                    end_message(session);
                } else {
                    buffer_.clear();
                }
                break;
            }
            case State::kStopped:
                break;
        }
        segment_start = false;
    }
}

size_t MessageStream::read_head(std::span<const uint8_t> data, bool truncated, int direction,
                                Session& session, MessageHandler& handler) {
    const size_t old_size = buffer_.size();
    size_t take = std::min(data.size(), kMaxHeadBytes - old_size);
    buffer_.append(as_text(data.first(take)));

    size_t first_end = buffer_.find('\n');
    std::string_view first_line = std::string_view(buffer_).substr(0, first_end);
    if (first_end == std::string::npos) {
        bool may_be_preface = kHttp2Preface.starts_with(first_line);
        if (!may_be_preface && !could_be_start_line(first_line)) {
            reject_start_line(session);
        } else if (buffer_.size() >= kMaxHeadBytes) {
            lose_track(session);
        } else if (!start_line_reported_ && (truncated || buffer_.size() >= kLongStartLine) &&
                   is_partial_start_line(first_line)) {
            start_line_reported_ = true;
            handler.on_start_line(direction);
        }
        return take;
    }
    if (first_line.ends_with('\r')) first_line.remove_suffix(1);
    if (first_line == "PRI * HTTP/2.0") {
        handler.on_http2_preface(direction);
        tunnel(session);
        return data.size();
    }
    if (!parse_start_line(first_line)) {
        reject_start_line(session);
        return take;
    }
    if (!start_line_reported_) {
        start_line_reported_ = true;
        handler.on_start_line(direction);
    }
    size_t end = find_head_end(buffer_, old_size >= 3 ? old_size - 3 : 0);
    if (end == std::string::npos) {
        if (buffer_.size() >= kMaxHeadBytes) lose_track(session);
        return take;
    }
    size_t used = end - old_size;
    std::optional<MessageHead> head = parse_head(std::string_view(buffer_).substr(0, end));
    buffer_.clear();
    if (!head) {
        lose_track(session);
        return used;
    }
    start_body(handler.on_head(direction, *head), session);
    return used;
}

size_t MessageStream::read_body(std::span<const uint8_t> data, Session& session) {
    size_t take = data.size();
    if (state_ != State::kUntilClose)
        take = static_cast<size_t>(std::min<uint64_t>(take, remaining_));
    if (sink_ != nullptr && !sink_->feed(data.first(take), session)) {
        // The content is identified: the rest of the body is only counted.
        sink_->finish(session);
        sink_.reset();
    }
    if (state_ == State::kUntilClose) return take;
    remaining_ -= take;
    if (remaining_ == 0) {
        if (state_ == State::kBody) {
            end_message(session);
        } else {
            state_ = State::kChunkEnd;
        }
    }
    return take;
}

size_t MessageStream::read_line(std::span<const uint8_t> data, Session& session, bool& complete) {
    std::string_view text = as_text(data);
    size_t end = text.find('\n');
    complete = end != std::string_view::npos;
    size_t take = complete ? end + 1 : text.size();
    if (buffer_.size() + take > kMaxLineBytes) {
        complete = false;
        lose_track(session);
        return take;
    }
    buffer_.append(text.substr(0, take));
    return take;
}

void MessageStream::read_chunk_size(Session& session) {
    // chunk-size in hex, then optional whitespace and chunk extensions (RFC 9112 7.1).
    std::string_view line = buffer_;
    size_t at = line.find_first_not_of(" \t");
    uint64_t size = 0;
    size_t digits = 0;
    for (; at < line.size() && std::isxdigit(static_cast<unsigned char>(line[at])); ++at) {
        if (++digits > 15) break;
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(line[at])));
        size = size * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    bool valid = digits > 0 && digits <= 15 &&
                 (at >= line.size() || std::string_view(" \t;\r\n").find(line[at]) != line.npos);
    buffer_.clear();
    if (!valid) {
        lose_track(session);
    } else if (size == 0) {
        state_ = State::kTrailer;
    } else {
        remaining_ = size;
        state_ = State::kChunkData;
    }
}

void MessageStream::start_body(MessageHandler::Decision decision, Session& session) {
    sink_ = std::move(decision.sink);
    switch (decision.framing) {
        case Framing::kNone:
            end_message(session);
            break;
        case Framing::kLength:
            remaining_ = decision.length;
            state_ = State::kBody;
            if (remaining_ == 0) end_message(session);
            break;
        case Framing::kChunked:
            state_ = State::kChunkSize;
            buffer_.clear();
            break;
        case Framing::kUntilClose:
            state_ = State::kUntilClose;
            break;
        case Framing::kTunnel:
            tunnel(session);
            break;
        case Framing::kInnerLayer:
            restart(session);
            break;
        case Framing::kUnframed:
            lose_track(session);
            break;
    }
}

void MessageStream::end_message(Session& session) {
    if (sink_ != nullptr) {
        sink_->finish(session);
        sink_.reset();
    }
    buffer_.clear();
    state_ = stop_after_message_ ? State::kStopped : State::kIdle;
}

void MessageStream::lose_track(Session& session) {
    end_message(session);
    if (state_ == State::kIdle) state_ = State::kLost;
}

void MessageStream::reject_start_line(Session& session) {
    if (!gap_skipped_) left_http_ = true;
    lose_track(session);
}

void MessageStream::skip_gap(uint64_t gap, Session& session) {
    gap_skipped_ = true;
    switch (state_) {
        case State::kBody:
        case State::kChunkData:
            if (gap < remaining_) {
                // The framing survives the gap, but the content no longer follows on.
                remaining_ -= gap;
                if (sink_ != nullptr) sink_->finish(session);
                sink_.reset();
            } else {
                lose_track(session);
            }
            break;
        case State::kUntilClose:
            if (sink_ != nullptr) sink_->finish(session);
            sink_.reset();
            break;
        case State::kStopped:
            break;
        default:
            lose_track(session);
            break;
    }
}

uint64_t MessageStream::skippable_until() const {
    if (sink_ != nullptr) return 0;
    if (state_ == State::kUntilClose) return std::numeric_limits<uint64_t>::max();
    if (state_ != State::kBody && state_ != State::kChunkData) return 0;
    return next_offset_ + remaining_;
}

void MessageStream::stop_after_message() {
    stop_after_message_ = true;
    if (state_ == State::kIdle || state_ == State::kLost) state_ = State::kStopped;
}

void MessageStream::tunnel(Session& session) {
    finish(session);
    buffer_.clear();
    state_ = State::kStopped;
}

void MessageStream::restart(Session& session) {
    finish(session);
    buffer_.clear();
    state_ = State::kLost;
}

void MessageStream::finish(Session& session) {
    if (sink_ != nullptr) {
        sink_->finish(session);
        sink_.reset();
    }
}

}  // namespace pw::detect::http
