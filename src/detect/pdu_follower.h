#pragma once

// Splits one direction of a reassembled TCP stream into length-prefixed messages (NetBIOS
// session messages, DCE/RPC fragments, TDS packets, Kerberos records...), for detectors that
// follow a stream message by message. The head of each message is gathered into a small
// buffer, whatever the segmentation, and handed over whole; the rest of the message is handed
// over as it arrives, without copying.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace pw::detect {

class PduFollower {
  public:
    enum class Status : uint8_t {
        kOk,       // every byte was consumed; call again with the next segment
        kNotPdu,   // the bytes at a message boundary are not a message of the protocol
        kStopped,  // a callback asked to stop
    };

    // `header_size`: bytes needed to learn a message's length. `head_limit`: bytes of each
    // message gathered before the message is handed over (at least header_size).
    PduFollower(size_t header_size, size_t head_limit)
        : header_size_(header_size), head_limit_(std::max(head_limit, header_size)) {}

    // Consumes `data`.
    //   length_of(head) -> std::optional<size_t>: the whole message's length (header
    //     included) from its first header_size bytes, or nullopt when they are not a header.
    //   on_head(head, total_length) -> bool: the message's first min(total, head_limit)
    //     bytes; false stops the follower.
    //   on_body(bytes, offset_in_message) -> bool: later bytes of the message, in order;
    //     false stops the follower.
    template <class LengthOf, class OnHead, class OnBody>
    Status feed(std::span<const uint8_t> data, LengthOf&& length_of, OnHead&& on_head,
                OnBody&& on_body) {
        while (!data.empty()) {
            // 1. Gather the header, then learn the message's length from it.
            if (!length_) {
                size_t take = std::min(header_size_ - head_.size(), data.size());
                head_.insert(head_.end(), data.begin(), data.begin() + take);
                data = data.subspan(take);
                if (head_.size() < header_size_) return Status::kOk;
                length_ = length_of(std::span<const uint8_t>(head_));
                if (!length_ || *length_ < header_size_) {
                    reset_message();
                    return Status::kNotPdu;
                }
            }

            // 2. Gather the head and hand it over.
            size_t head_size = std::min(*length_, head_limit_);
            if (!head_delivered_) {
                size_t take = std::min(head_size - head_.size(), data.size());
                head_.insert(head_.end(), data.begin(), data.begin() + take);
                data = data.subspan(take);
                if (head_.size() < head_size) return Status::kOk;
                head_delivered_ = true;
                consumed_ = head_size;
                ++messages_;
                if (!on_head(std::span<const uint8_t>(head_), *length_)) return stop();
            }

            // 3. Hand over the rest of the message as it comes.
            size_t take = std::min(*length_ - consumed_, data.size());
            if (take > 0) {
                size_t offset = consumed_;
                consumed_ += take;
                if (!on_body(data.first(take), offset)) return stop();
                data = data.subspan(take);
            }
            if (consumed_ == *length_) reset_message();
        }
        return Status::kOk;
    }

    // Messages whose head has been handed over.
    uint64_t messages() const { return messages_; }
    // True between messages, where the next byte starts a header.
    bool at_boundary() const { return !length_ && head_.empty(); }
    // Bytes of the current message still to come once its head has been handed over.
    size_t body_left() const { return head_delivered_ ? *length_ - consumed_ : 0; }
    // Passes over the rest of the current message without handing it over: the caller
    // drops those bytes itself (see Session::skip_until()).
    void skip_body() {
        if (head_delivered_) reset_message();
    }

  private:
    Status stop() {
        reset_message();
        return Status::kStopped;
    }
    void reset_message() {
        head_.clear();
        length_.reset();
        head_delivered_ = false;
        consumed_ = 0;
    }

    size_t header_size_;
    size_t head_limit_;
    std::vector<uint8_t> head_;
    std::optional<size_t> length_;
    bool head_delivered_ = false;
    size_t consumed_ = 0;
    uint64_t messages_ = 0;
};

}  // namespace pw::detect
