#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "content/magic.h"

namespace pw::content {

// Follows the member headers of a tar archive as it streams by: each 512-byte header gives
// its member's size, so the next header's offset is known and the data between is skipped
// unread. A header is valid when its checksum matches (POSIX.1-1988 ustar, GNU and v7).
class TarWalker {
  public:
    // Headers followed at most, and the furthest offset a header is waited for.
    static constexpr int kMaxHeaders = 64;
    static constexpr uint64_t kMaxHeaderOffset = 64u << 20;

    void feed(Bytes bytes);

    bool done() const { return done_; }
    // True once the first header is valid.
    bool is_tar() const { return is_tar_; }
    // True once a pax extended header (typeflag 'x', or 'g' for a global one) was seen.
    bool has_pax_header() const { return has_pax_; }

  private:
    void check_header();

    uint64_t position_ = 0;
    uint64_t next_header_ = 0;
    // The data blocks of an old GNU sparse member whose extension blocks come first: the
    // next block read is one of them while this is set.
    std::optional<uint64_t> sparse_data_blocks_;
    std::array<uint8_t, 512> header_{};
    size_t header_fill_ = 0;
    int headers_ = 0;
    bool is_tar_ = false;
    bool has_pax_ = false;
    bool done_ = false;
};

// True when the 512 bytes at `header` form a tar header with a valid checksum.
bool is_tar_header(Bytes header);

// FILE_TAR, PAX_EXTENDED_HEADER_DATA for an archive with a pax header in the head, or kNone.
ProtocolId identify_tar(Bytes head);

}  // namespace pw::content
