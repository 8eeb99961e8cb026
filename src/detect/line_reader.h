#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

namespace pw::detect {

// Splits one direction of a stream into lines without their CR LF, for the line-based
// protocols (FTP, SMTP, IMAP). A line longer than the limit is skipped whole: text
// protocols do not send them, so such a line is not theirs to read.
template <size_t kMaxLine>
class LineReader {
  public:
    // Calls on_line(std::string_view) for each complete line in `data`.
    template <class OnLine>
    void feed(std::span<const uint8_t> data, OnLine&& on_line) {
        const auto* at = reinterpret_cast<const char*>(data.data());
        const char* end = at + data.size();
        while (at < end) {
            const auto* newline = static_cast<const char*>(std::memchr(at, '\n', end - at));
            const char* stop = newline != nullptr ? newline : end;
            append(at, static_cast<size_t>(stop - at));
            if (newline == nullptr) break;
            if (!too_long_) {
                if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
                on_line(std::string_view(partial_));
            }
            partial_.clear();
            too_long_ = false;
            at = newline + 1;
        }
    }
    // True when bytes of an unfinished line are waiting.
    bool has_partial() const { return !partial_.empty(); }
    std::string_view partial() const { return partial_; }
    // The unfinished line without a CR at its end, which may be the first half of its CR LF
    // when a segment ends between the two.
    std::string_view unfinished() const {
        std::string_view text = partial_;
        if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
        return text;
    }

  private:
    void append(const char* bytes, size_t size) {
        if (too_long_) return;
        if (partial_.size() + size > kMaxLine) {
            // Keep the limit's worth for partial(), and skip the rest of the line.
            partial_.append(bytes, kMaxLine - partial_.size());
            too_long_ = true;
            return;
        }
        partial_.append(bytes, size);
    }

    std::string partial_;
    bool too_long_ = false;
};

}  // namespace pw::detect
