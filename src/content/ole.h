#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "content/magic.h"

namespace pw::content {

// Tells PowerPoint, Publisher and Visio documents apart among OLE compound files
// (MS-CFB), following the file as it streams by. The header gives the sector size and
// the first directory sector; the root directory entry there carries the CLSID of the
// application. Stream and storage names in any directory entry seen on the way are the
// fallback: "PowerPoint Document", "VisioDocument", and Publisher's "Quill" storage.
class OleScanner {
  public:
    // Directory sectors further into the file than this are not waited for.
    static constexpr uint64_t kMaxDirectoryOffset = 16u << 20;
    // Bytes of the file checked for directory entries by their names.
    static constexpr uint64_t kMaxNameScanBytes = 256u << 10;

    // Feeds the file's next bytes.
    void feed(Bytes bytes);

    // True once the scanner needs no more bytes: decided, or not an OLE file it can read.
    bool done() const { return done_; }
    // The document type, or kNone while undecided or when no type of the table matched.
    ProtocolId result() const { return result_; }

  private:
    void parse_header();
    void check_entry();

    uint64_t position_ = 0;
    std::array<uint8_t, 512> header_{};
    std::array<uint8_t, 128> entry_{};
    size_t entry_fill_ = 0;
    uint64_t directory_offset_ = 0;
    uint64_t sector_size_ = 0;
    bool done_ = false;
    ProtocolId result_ = ProtocolId::kNone;
};

// Classifies an OLE compound file from its head alone; kNone when the head is not one or
// its directory lies beyond the head.
ProtocolId identify_ole(Bytes head);

}  // namespace pw::content
