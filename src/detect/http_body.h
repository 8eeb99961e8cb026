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

// The payload of one HTTP message after transfer decoding: removes its content codings
// (gzip, x-gzip and deflate, at most kMaxCodings of them) and hands the result to a
// content::TransferScanner with the declared media type. A coding that fails on its very
// first bytes is taken as not applied, so its bytes pass through unchanged. Codings that
// zlib cannot remove (br, zstd, compress) pass through too.
class BodySink {
  public:
    static constexpr size_t kMaxCodings = 2;
    // Decoded bytes per body at most: a decompression bomb stops here.
    static constexpr uint64_t kMaxDecodedBytes = 1u << 20;

    BodySink(std::string_view content_encoding, std::string_view media_type);
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
    uint64_t decoded_ = 0;
    bool done_ = false;
};

}  // namespace pw::detect::http
