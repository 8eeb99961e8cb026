#include "detect/http_body.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <functional>
#include <string>

#include "common/heap_meter.h"
#include "detect/http_message.h"

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
    // Input kept until the first output, to pass through if the coding turns out absent:
    // the first piece, and later pieces while all of it stays within kMaxReplay bytes.
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
    // zlib's state and window count as the flow's heap (memory bound).
    stream_.zalloc = heap_meter::allocate;
    stream_.zfree = heap_meter::release;
    if (inflateInit2(&stream_, window_bits) != Z_OK) return false;
    initialized_ = true;
    return true;
}

bool Inflater::feed(std::span<const uint8_t> input, const Output& out) {
    if (failed_ || ended_) return false;
    if (pass_through_) return out(input);
    bool more = true;
    if (!initialized_) {
        // zlib starts once two bytes came, since the first two bytes tell a zlib header
        // from raw deflate. The first piece is kept whole, however large, because a
        // segment of a TSO or GRO capture can carry 64 KiB.
        replay_.insert(replay_.end(), input.begin(), input.end());
        if (replay_.size() < 2) return true;
        more = start() ? run(replay_, out) : fail_or_pass_through(out);
        if (replay_.size() > kMaxReplay) replay_complete_ = false;
    } else {
        if (produced_ == 0 && replay_complete_) {
            if (replay_.size() + input.size() <= kMaxReplay) {
                replay_.insert(replay_.end(), input.begin(), input.end());
            } else {
                replay_complete_ = false;
            }
        }
        more = run(input, out);
    }
    // Once there is output, or the kept input is incomplete or passed through already, it
    // is never passed through again.
    if (pass_through_ || produced_ > 0 || !replay_complete_) {
        replay_complete_ = false;
        std::vector<uint8_t>().swap(replay_);
    }
    return more;
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

// Splits a multipart body into its parts and scans each part's content. The body is the
// preamble, then parts that each start with a delimiter line ("--" and the boundary) and
// their header lines, and a close delimiter ("--" boundary "--") at the end (RFC 2046
// section 5.1.1). A delimiter after the first follows a CRLF, which belongs to it. A part
// that is multipart itself is split again, up to kMaxDepth levels: RFC 2388 sent the files
// of one form field as a multipart/mixed part, which RFC 7578 section 4.3 no longer
// recommends but receivers may still read.
class MultipartSplitter {
  public:
    // Parts scanned per body, at every level together; the rest are passed over.
    static constexpr size_t kMaxParts = 256;
    // Bytes of a part's header lines kept to find its media type. A part with longer header
    // lines is scanned without a declared type.
    static constexpr size_t kMaxPartHeader = 4096;
    // Levels of nested multipart bodies, the outermost one included. A multipart part below
    // them is scanned as one object.
    static constexpr int kMaxDepth = 4;

    // `pending_` starts with a CRLF because the first delimiter may open the body without
    // one before it. `parts` counts the parts of every level of one body. The preamble is
    // scanned as an object without a declared type, so that content which never shows the
    // declared boundary (a file behind a wrong or reused boundary) is still identified.
    MultipartSplitter(std::string_view boundary, int depth, size_t& parts)
        : delimiter_("\r\n--" + std::string(boundary)),
          pending_("\r\n"),
          part_(std::make_unique<content::TransferScanner>()),
          depth_(depth),
          parts_(parts) {}

    // Feeds the next bytes of the body. Returns false once no more are wanted.
    bool feed(std::span<const uint8_t> bytes, Session& session) {
        if (state_ == State::kDone) return false;
        pending_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        while (state_ != State::kDone && step(session)) {
        }
        return state_ != State::kDone;
    }

    void finish(Session& session) {
        end_part(session);
        state_ = State::kDone;
    }

    bool done() const { return state_ == State::kDone; }

  private:
    enum class State : uint8_t { kPreamble, kAfterDelimiter, kHeaders, kContent, kDone };

    // Advances through pending_ as far as it allows. Returns false when it needs more bytes.
    bool step(Session& session) {
        switch (state_) {
            case State::kPreamble:
            case State::kContent: {
                size_t at = pending_.find(delimiter_);
                if (at == std::string::npos) {
                    // Keep what may be the start of a delimiter split between segments.
                    size_t keep = std::min(pending_.size(), delimiter_.size() - 1);
                    scan(std::string_view(pending_).substr(0, pending_.size() - keep), session);
                    pending_.erase(0, pending_.size() - keep);
                    return false;
                }
                scan(std::string_view(pending_).substr(0, at), session);
                end_part(session);
                pending_.erase(0, at + delimiter_.size());
                state_ = State::kAfterDelimiter;
                added_crlf_ = 0;
                return true;
            }
            case State::kAfterDelimiter:
                if (pending_.size() < 2) return false;
                // "--" closes the body; otherwise the line ends, after optional white space.
                if (pending_.starts_with("--") || ++parts_ > kMaxParts) {
                    state_ = State::kDone;
                    return false;
                }
                state_ = State::kHeaders;
                return true;
            case State::kHeaders: {
                size_t end = pending_.find("\r\n\r\n");
                if (end == std::string::npos) {
                    if (pending_.size() > kMaxPartHeader) {
                        // Keep what may be the start of the empty line.
                        header_overflow_ = true;
                        pending_.erase(0, pending_.size() - 3);
                    }
                    return false;
                }
                // The rest of the delimiter line, then the part's header lines, if any, and
                // the empty line.
                start_part(header_overflow_
                               ? ContentType{}
                               : field_content_type(std::string_view(pending_).substr(0, end)));
                header_overflow_ = false;
                pending_.erase(0, end + 4);
                state_ = State::kContent;
                return true;
            }
            case State::kDone:
                return false;
        }
        return false;
    }

    void start_part(const ContentType& type) {
        if (!type.boundary.empty() && depth_ < kMaxDepth) {
            nested_ = std::make_unique<MultipartSplitter>(type.boundary, depth_ + 1, parts_);
        } else {
            part_ = std::make_unique<content::TransferScanner>(type.media_type);
        }
    }

    void end_part(Session& session) {
        if (part_) part_->finish(session);
        if (nested_) nested_->finish(session);
        part_.reset();
        nested_.reset();
    }

    // Hands the content bytes `bytes` of the current part, if any, to its scanner or to
    // the splitter of its own parts.
    void scan(std::string_view bytes, Session& session) {
        // The CRLF that pending_ starts with is not the body's.
        const size_t added = std::min(bytes.size(), added_crlf_);
        bytes.remove_prefix(added);
        added_crlf_ -= added;
        if (bytes.empty()) return;
        std::span<const uint8_t> span{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
        if (part_ && !part_->done()) part_->feed(span, session);
        if (nested_ && !nested_->done()) nested_->feed(span, session);
    }

    std::string delimiter_;
    std::string pending_;
    std::unique_ptr<content::TransferScanner> part_;
    std::unique_ptr<MultipartSplitter> nested_;  // instead of part_, for a multipart part
    int depth_;                                  // 1 for the message body itself
    size_t added_crlf_ = 2;                      // bytes of pending_'s first CRLF not scanned
    size_t& parts_;
    bool header_overflow_ = false;  // the current part's header lines passed kMaxPartHeader
    State state_ = State::kPreamble;
};

BodySink::BodySink(const std::vector<std::string_view>& codings, std::string_view media_type,
                   std::string_view boundary)
    : scanner_(media_type) {
    if (!boundary.empty()) multipart_ = std::make_unique<MultipartSplitter>(boundary, 1, parts_);
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
    if (multipart_) return multipart_->feed(bytes, session) && decoded_ < kMaxDecodedBytes;
    return scanner_.feed(bytes, session) && decoded_ < kMaxDecodedBytes;
}

void BodySink::finish(Session& session) {
    if (!undecodable_) {
        if (multipart_) {
            multipart_->finish(session);
        } else {
            scanner_.finish(session);
        }
    }
    done_ = true;
}

}  // namespace pw::detect::http
