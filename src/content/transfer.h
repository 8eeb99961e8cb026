#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "content/ole.h"
#include "content/tar.h"
#include "detect/protocols.h"
#include "detect/session.h"

namespace pw::content {

// Identifies the file type of a transfer from its leading bytes (magic numbers and
// structure). Returns ProtocolId::kNone when no type of the table matches. A tar archive
// with a pax extended header gives PAX_EXTENDED_HEADER_DATA, which implies FILE_TAR.
ProtocolId identify(std::span<const uint8_t> head);

// True for the media types that declare JavaScript (RFC 9239 and the older names that
// servers still send). `media_type` may carry parameters ("; charset=utf-8").
bool is_javascript_media_type(std::string_view media_type);

// Follows one transferred object (an HTTP body after transfer and content decoding, an
// FTP data stream, a file read over SMB or TFTP) and records on the session what it
// carries: its file type, and for HTML its script and style blocks. It keeps at most
// kMaxHeadBytes of the object and looks at no more than kMaxScanBytes in total. Beyond
// that it only counts bytes, to reach the directory of an OLE compound file or the next
// member header of a tar archive, up to their own bounds.
class TransferScanner {
  public:
    static constexpr size_t kMaxHeadBytes = 4096;
    static constexpr size_t kMaxScanBytes = 256 * 1024;

    // `media_type` is the declared type (an HTTP Content-Type), empty when none.
    explicit TransferScanner(std::string_view media_type = {});

    // Feeds the object's next bytes. Returns false once the scanner needs no more.
    bool feed(std::span<const uint8_t> bytes, detect::Session& session);

    // Ends the object: identifies it from what was kept if that has not happened yet.
    void finish(detect::Session& session);

    // True once the scanner needs no more bytes.
    bool done() const { return done_; }

  private:
    void identify_head(detect::Session& session);
    void follow_structure(std::span<const uint8_t> bytes, detect::Session& session);
    void scan_markup(std::string_view text, detect::Session& session);
    void update_done();

    std::string media_type_;
    std::string head_;
    uint64_t total_ = 0;       // bytes fed so far
    uint64_t markup_end_ = 0;  // bytes scanned for script and style tags so far
    bool identified_ = false;
    bool done_ = false;
    // Markup scanning across feed() calls: the tail of the previous bytes, so that a tag
    // split between two segments is still seen.
    std::string markup_tail_;
    bool is_markup_ = false;
    bool found_script_ = false;
    bool found_style_ = false;
    OleScanner ole_;
    TarWalker tar_;
};

}  // namespace pw::content
