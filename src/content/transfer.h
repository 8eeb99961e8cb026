#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "detect/protocols.h"
#include "detect/session.h"

namespace pw::content {

// Identifies the file type of a transfer from its leading bytes (magic numbers and
// structure). Returns ProtocolId::kNone when no type of the table matches.
ProtocolId identify(std::span<const uint8_t> head);

// Follows one transferred object (an HTTP body after transfer and content decoding, an
// FTP data stream, a file read over SMB or TFTP) and records on the session what it
// carries: its file type, and for HTML its script and style blocks. It keeps at most
// kMaxHeadBytes of the object and looks at no more than kMaxScanBytes in total.
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

private:
    std::string media_type_;
    std::string head_;
    size_t scanned_ = 0;
    bool identified_ = false;
    bool done_ = false;
    // Markup scanning across feed() calls: the tail of the previous bytes, so that a tag
    // split between two segments is still seen.
    std::string markup_tail_;
    bool is_markup_ = false;
};

}  // namespace pw::content
