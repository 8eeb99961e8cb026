#include "detect/http_body.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <functional>

namespace pw::detect::http {

using Output = std::function<bool(std::span<const uint8_t>)>;

// One content coding being removed with zlib.
class Inflater {
  public:
    enum class Format : uint8_t { kGzip, kDeflate };

    explicit Inflater(Format format) : format_(format) {}
    ~Inflater() {
        if (initialized_) inflateEnd(&stream_);
    }
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;

    // Inflates `input`, handing each piece of output to `out`. Returns false once this
    // coding gives no more output: after an error, or when `out` returned false.
    bool feed(std::span<const uint8_t> input, const Output& out);

  private:
    // Input kept until the first output, to pass through if the coding turns out absent.
    static constexpr size_t kMaxReplay = 4096;
    static constexpr size_t kChunk = 16 * 1024;

    bool start();
    bool run(std::span<const uint8_t> input, const Output& out);
    bool fail_or_pass_through(const Output& out);

    Format format_;
    z_stream stream_{};
    bool initialized_ = false;
    bool ended_ = false;
    bool failed_ = false;
    bool pass_through_ = false;
    bool replay_complete_ = true;
    uint64_t produced_ = 0;
    std::vector<uint8_t> replay_;
};

bool Inflater::start() {
    // "deflate" is meant to be a zlib stream (RFC 9110 section 8.4.1.2), but some
    // servers send raw deflate: a zlib header has CM 8 and a check value that makes the
    // first two bytes a multiple of 31 (RFC 1950).
    int window_bits = 16 + MAX_WBITS;
    if (format_ == Format::kDeflate) {
        bool zlib_header = (replay_[0] & 0x0f) == 8 && (replay_[0] >> 4) <= 7 &&
                           ((replay_[0] << 8) | replay_[1]) % 31 == 0;
        window_bits = zlib_header ? MAX_WBITS : -MAX_WBITS;
    }
    if (inflateInit2(&stream_, window_bits) != Z_OK) return false;
    initialized_ = true;
    return true;
}

bool Inflater::feed(std::span<const uint8_t> input, const Output& out) {
    if (failed_ || ended_) return false;
    if (pass_through_) return out(input);
    if (produced_ == 0 && replay_complete_) {
        if (replay_.size() + input.size() <= kMaxReplay) {
            replay_.insert(replay_.end(), input.begin(), input.end());
        } else {
            replay_complete_ = false;
        }
    }
    if (!initialized_) {
        if (replay_.size() < 2) return true;
        if (!replay_complete_ || !start()) return fail_or_pass_through(out);
        return run(replay_, out);
    }
    return run(input, out);
}

bool Inflater::run(std::span<const uint8_t> input, const Output& out) {
    std::array<uint8_t, kChunk> buffer;
    stream_.next_in = const_cast<Bytef*>(input.data());
    stream_.avail_in = static_cast<uInt>(input.size());
    do {
        stream_.next_out = buffer.data();
        stream_.avail_out = static_cast<uInt>(buffer.size());
        int result = inflate(&stream_, Z_NO_FLUSH);
        size_t have = buffer.size() - stream_.avail_out;
        if (have > 0) {
            have = static_cast<size_t>(
                std::min<uint64_t>(have, BodySink::kMaxDecodedBytes - produced_));
            produced_ += have;
            if (!out(std::span<const uint8_t>(buffer.data(), have)) ||
                produced_ >= BodySink::kMaxDecodedBytes) {
                failed_ = true;
                return false;
            }
        }
        if (result == Z_STREAM_END) {
            // gzip allows several members one after the other (RFC 1952 section 2.2).
            if (format_ == Format::kGzip && stream_.avail_in > 0 && inflateReset(&stream_) == Z_OK)
                continue;
            ended_ = true;
            return false;
        }
        if (result == Z_BUF_ERROR && stream_.avail_in == 0) break;
        if (result != Z_OK) return fail_or_pass_through(out);
    } while (stream_.avail_in > 0 || stream_.avail_out == 0);
    return true;
}

bool Inflater::fail_or_pass_through(const Output& out) {
    if (produced_ == 0 && replay_complete_) {
        pass_through_ = true;
        return out(replay_);
    }
    failed_ = true;
    return false;
}

BodySink::BodySink(const std::vector<std::string_view>& codings, std::string_view media_type)
    : scanner_(media_type) {
    // Remove the last coding applied first.
    for (auto it = codings.rbegin(); it != codings.rend(); ++it) {
        const bool gzip = *it == "gzip" || *it == "x-gzip";
        const bool undecodable = *it == "br" || *it == "zstd" || *it == "compress" ||
                                 *it == "x-compress" || *it == "chunked";
        // A browser such as Chromium passes a body of a coding it does not know through as
        // it came, so the content is the bytes themselves.
        if (!gzip && *it != "deflate" && !undecodable) continue;
        if (layers_.size() == kMaxCodings || undecodable) {
            undecodable_ = true;
            layers_.clear();
            break;
        }
        layers_.push_back(std::make_unique<Inflater>(gzip ? Inflater::Format::kGzip
                                                          : Inflater::Format::kDeflate));
    }
}

BodySink::~BodySink() = default;

bool BodySink::feed(std::span<const uint8_t> bytes, Session& session) {
    if (undecodable_) done_ = true;
    if (done_ || bytes.empty()) return !done_;
    if (!deliver(0, bytes, session)) done_ = true;
    return !done_;
}

bool BodySink::deliver(size_t layer, std::span<const uint8_t> bytes, Session& session) {
    if (layer < layers_.size()) {
        return layers_[layer]->feed(bytes, [this, layer, &session](std::span<const uint8_t> out) {
            return deliver(layer + 1, out, session);
        });
    }
    if (decoded_ >= kMaxDecodedBytes) return false;
    bytes = bytes.first(std::min<uint64_t>(bytes.size(), kMaxDecodedBytes - decoded_));
    decoded_ += bytes.size();
    return scanner_.feed(bytes, session) && decoded_ < kMaxDecodedBytes;
}

void BodySink::finish(Session& session) {
    if (!undecodable_) scanner_.finish(session);
    done_ = true;
}

}  // namespace pw::detect::http
