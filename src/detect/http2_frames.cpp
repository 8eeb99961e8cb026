#include "detect/http2_frames.h"

#include <algorithm>
#include <cctype>

namespace pw::detect::http {
namespace {

constexpr uint8_t kData = 0;
constexpr uint8_t kPaddedFlag = 0x08;
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

void FrameWalker::feed(std::span<const uint8_t> data, uint64_t offset) {
    if (done_) return;
    if (offset + data.size() <= next_offset_) return;
    if (offset > next_offset_) {
        done_ = true;
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
            if (header_fill_ == header_.size()) start_frame();
            continue;
        }
        size_t take = std::min<size_t>(data.size(), remaining_);
        if (in_data_ && data_head_.size() < kMaxDataHead) {
            size_t keep = std::min(take, kMaxDataHead - data_head_.size());
            data_head_.append(reinterpret_cast<const char*>(data.data()), keep);
        }
        remaining_ -= static_cast<uint32_t>(take);
        data = data.subspan(take);
        if (remaining_ == 0) end_data();
    }
}

void FrameWalker::start_frame() {
    header_fill_ = 0;
    remaining_ = static_cast<uint32_t>(header_[0]) << 16 | header_[1] << 8 | header_[2];
    in_data_ = header_[3] == kData;
    padded_ = (header_[4] & kPaddedFlag) != 0;
    data_head_.clear();
    if (++frames_ > kMaxFrames) done_ = true;
    if (remaining_ == 0) end_data();
}

void FrameWalker::end_data() {
    if (!in_data_) return;
    in_data_ = false;
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
