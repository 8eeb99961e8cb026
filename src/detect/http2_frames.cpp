#include "detect/http2_frames.h"

#include <algorithm>
#include <cctype>

namespace pw::detect::http {
namespace {

constexpr uint8_t kData = 0;
constexpr uint8_t kPaddedFlag = 0x08;
constexpr uint8_t kEndStreamFlag = 0x01;
constexpr uint8_t kGzipMagic[2] = {0x1f, 0x8b};
constexpr size_t kDnsHeader = 12;
constexpr uint16_t kMaxRecords = 256;

uint16_t load_be16(std::span<const uint8_t> data, size_t at) {
    return static_cast<uint16_t>(data[at] << 8 | data[at + 1]);
}

bool is_label_char(uint8_t c) { return std::isalnum(c) || c == '-' || c == '_'; }

}  // namespace

bool is_dns_message(std::span<const uint8_t> message) {
    if (message.size() < kDnsHeader + 5) return false;
    uint16_t flags = load_be16(message, 2);
    uint8_t opcode = (flags >> 11) & 0x0f;
    bool reserved_bit = (flags & 0x0040) != 0;
    uint16_t questions = load_be16(message, 4);
    if (opcode != 0 || reserved_bit || questions != 1) return false;
    for (size_t at : {6, 8, 10}) {
        if (load_be16(message, at) > kMaxRecords) return false;
    }
    // The question's name: labels of 1 to 63 hostname characters, 255 bytes at most,
    // ending with the root label. It is the first name, so it cannot be a pointer.
    size_t at = kDnsHeader;
    size_t name_length = 0;
    while (true) {
        if (at >= message.size()) return false;
        uint8_t length = message[at++];
        if (length == 0) break;
        if (length > 63 || message.size() - at < length) return false;
        name_length += length + 1;
        if (name_length > 255) return false;
        if (!std::all_of(message.begin() + at, message.begin() + at + length, is_label_char))
            return false;
        at += length;
    }
    if (message.size() - at < 4) return false;
    uint16_t type = load_be16(message, at);
    uint16_t klass = load_be16(message, at + 2);
    // IN, CH, HS and ANY.
    return type != 0 && (klass == 1 || klass == 3 || klass == 4 || klass == 255);
}

void FrameWalker::feed(std::span<const uint8_t> data, uint64_t offset, Session& session) {
    if (done_) return;
    if (offset + data.size() <= next_offset_) return;
    if (offset > next_offset_) {
        done_ = true;
        finish(session);
        return;
    }
    data = data.subspan(static_cast<size_t>(next_offset_ - offset));
    next_offset_ += data.size();
    while (!data.empty() && !done_) {
        if (remaining_ == 0 && header_fill_ < header_.size()) {
            size_t take = std::min(data.size(), header_.size() - header_fill_);
            std::copy_n(data.begin(), take, header_.begin() + header_fill_);
            header_fill_ += take;
            data = data.subspan(take);
            if (header_fill_ == header_.size()) start_frame(session);
            continue;
        }
        size_t take = std::min<size_t>(data.size(), remaining_);
        if (in_data_) {
            if (data_head_.size() < kMaxDataHead) {
                size_t keep = std::min(take, kMaxDataHead - data_head_.size());
                data_head_.append(reinterpret_cast<const char*>(data.data()), keep);
            }
            feed_body(data.first(take), session);
        }
        remaining_ -= static_cast<uint32_t>(take);
        data = data.subspan(take);
        if (remaining_ == 0) end_data(session);
    }
    if (done_) finish(session);
}

void FrameWalker::finish(Session& session) {
    for (Body& body : bodies_) {
        if (body.scanner != nullptr) body.scanner->finish(session);
    }
    bodies_.clear();
    body_ = nullptr;
}

void FrameWalker::start_frame(Session& session) {
    header_fill_ = 0;
    remaining_ = static_cast<uint32_t>(header_[0]) << 16 | header_[1] << 8 | header_[2];
    in_data_ = header_[3] == kData;
    padded_ = (header_[4] & kPaddedFlag) != 0;
    end_stream_ = (header_[4] & kEndStreamFlag) != 0;
    stream_ = (static_cast<uint32_t>(header_[5] & 0x7f) << 24) | header_[6] << 16 |
              header_[7] << 8 | header_[8];
    payload_at_ = 0;
    body_bytes_ = remaining_;
    body_ = nullptr;
    data_head_.clear();
    if (++frames_ > kMaxFrames) done_ = true;
    if (in_data_ && stream_ != 0 && !done_) {
        auto found = std::find_if(bodies_.begin(), bodies_.end(),
                                  [&](const Body& body) { return body.stream == stream_; });
        if (found != bodies_.end()) {
            body_ = &*found;
        } else if (bodies_.size() < kMaxBodies) {
            bodies_.push_back({stream_, std::make_unique<content::TransferScanner>(), 0});
            body_ = &bodies_.back();
        }
    }
    if (remaining_ == 0) end_data(session);
}

void FrameWalker::feed_body(std::span<const uint8_t> data, Session& session) {
    // A padded frame's payload starts with the padding's length, and the padding ends it.
    if (padded_ && payload_at_ == 0 && !data.empty()) {
        body_bytes_ = data[0] + 1u <= body_bytes_ ? body_bytes_ - data[0] - 1 : 0;
        ++payload_at_;
        data = data.subspan(1);
    }
    const uint32_t body_start = padded_ ? 1 : 0;
    const uint32_t body_end = body_start + body_bytes_;
    const uint32_t at = payload_at_;
    payload_at_ += static_cast<uint32_t>(data.size());
    if (body_ == nullptr || body_->scanner == nullptr || at >= body_end) return;
    data = data.first(std::min<size_t>(data.size(), body_end - at));
    if (body_->bytes == 0 && data.size() >= 2 && data[0] == kGzipMagic[0] &&
        data[1] == kGzipMagic[1]) {
        body_->scanner.reset();
        return;
    }
    body_->bytes += data.size();
    if (!body_->scanner->feed(data, session)) body_->scanner.reset();
}

void FrameWalker::end_data(Session& session) {
    if (!in_data_) return;
    in_data_ = false;
    if (body_ != nullptr && end_stream_) {
        if (body_->scanner != nullptr) body_->scanner->finish(session);
        const uint32_t stream = body_->stream;
        std::erase_if(bodies_, [&](const Body& body) { return body.stream == stream; });
        body_ = nullptr;
    }
    std::span<const uint8_t> payload(reinterpret_cast<const uint8_t*>(data_head_.data()),
                                     data_head_.size());
    // A padded frame starts with the length of its padding.
    if (padded_ && !payload.empty()) payload = payload.subspan(1);
    if (is_dns_message(payload)) {
        found_dns_ = true;
        done_ = true;
    }
}

}  // namespace pw::detect::http
