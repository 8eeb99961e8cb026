#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "content/transfer.h"
#include "detect/session.h"

namespace pw::detect::http {

class Inflater;
class MultipartSplitter;

// The payload of one HTTP message, once its framing (chunked or not) is removed. It
// removes the other codings (gzip, x-gzip and deflate, transfer and content codings alike,
// at most kMaxCodings of them). The result goes to a content::TransferScanner with the
// declared media type. A coding that fails on its very first bytes is taken as not
// applied, so its bytes pass through unchanged. A body with a known coding that zlib
// cannot remove (br, zstd, compress), or with more codings than kMaxCodings, is not
// scanned: its bytes are not the content, and scanning them would type the coding's
// format. An unknown coding (identity among them) is skipped, as browsers pass such a body
// through unchanged. A multipart body (RFC 2046 section 5.1, as form uploads send it,
// RFC 7578) is split into its parts, and each part's content is scanned on its own, with
// the part's declared media type, up to 256 parts.
class BodySink {
  public:
    // Enough for two content codings under a transfer coding.
    static constexpr size_t kMaxCodings = 3;
    // Bytes that each coding may output per body at most, the last one included: a
    // decompression bomb stops here, even nested in another coding.
    static constexpr uint64_t kMaxDecodedBytes = 1u << 20;

    // `codings` are in the order they were applied (MessageHead::applied_codings()), and
    // `boundary` is the multipart boundary (MessageHead::boundary), empty for none.
    BodySink(const std::vector<std::string_view>& codings, std::string_view media_type,
             std::string_view boundary = {});
    ~BodySink();
    BodySink(const BodySink&) = delete;
    BodySink& operator=(const BodySink&) = delete;

    // Feeds the next payload bytes. Returns false once no more are wanted.
    bool feed(std::span<const uint8_t> bytes, Session& session);
    void finish(Session& session);

  private:
    bool deliver(size_t layer, std::span<const uint8_t> bytes, Session& session);

    // Content codings in the order they are removed: the last one applied comes first.
    std::vector<std::unique_ptr<Inflater>> layers_;
    content::TransferScanner scanner_;
    std::unique_ptr<MultipartSplitter> multipart_;  // instead of scanner_, for a multipart body
    size_t parts_ = 0;                              // of multipart_, at every level
    uint64_t decoded_ = 0;
    bool done_ = false;
    bool undecodable_ = false;  // a coding cannot be removed: the content stays unknown
};

}  // namespace pw::detect::http
