#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pw::capture {

struct Frame;

// Reads the records of a classic pcap file from a read-only memory mapping, so that
// frames point into the file's pages instead of being copied. The format
// (pcap-savefile(5)) is a 24-byte file header, then per packet a 16-byte record header and
// the captured bytes. It reads
// version 2.4 files with the microsecond or nanosecond magic, in either byte order.
// libpcap still opens every file first: it validates the file header, maps the file's
// LINKTYPE_ value to a DLT_ value and adjusts the snapshot length, and this reader takes
// those from it. It applies libpcap 1.10's rules to each record (the same maximum
// captured length, frames cut to the snapshot length, the same errors for damage).
//
// Pages already read are dropped from the process's resident memory as reading goes on,
// so that the memory a capture costs does not grow with its size. A frame still points
// at valid bytes after that: reading it again faults the page back in from the page cache.
// Frames stay valid until the reader is closed or destroyed. A caller that reads frames
// some way behind the reading position sets how far (set_resident_lag()), so that their
// pages stay resident until then.
//
// If another program truncates the file while it is mapped, reading past its new end
// raises SIGBUS. A handler installed by open() then maps a page of zeros in place of the
// missing one, and next() reports the file as damaged.
class MappedPcapReader {
  public:
    MappedPcapReader() = default;
    ~MappedPcapReader();
    MappedPcapReader(const MappedPcapReader&) = delete;
    MappedPcapReader& operator=(const MappedPcapReader&) = delete;

    // Maps `path` if it is a regular file in a format this reader reads (see above).
    // `linktype` (a DLT_ value) and `snapshot` are libpcap's for the file. Returns false,
    // mapping nothing, for any other file, which the caller then reads through libpcap.
    bool open(const std::string& path, int linktype, uint32_t snapshot);

    // Unmaps the file. Frames handed out before are no longer valid.
    void close();

    // Reads the next record into `frame`. Returns 1 for a frame, 0 at the end of the file
    // and -1 when the file is damaged or truncated, with `error` set as libpcap words it.
    int next(Frame& frame, std::string& error);

    // Keeps the `bytes` of the file before the reading position resident (by default
    // kDefaultResidentLag), for a caller that reads frames that far behind it.
    void set_resident_lag(uint64_t bytes) { resident_lag_ = bytes; }
    static constexpr uint64_t kDefaultResidentLag = 1 << 20;

    // The offset of the next record in the file, and the file's size.
    uint64_t position() const { return position_; }
    uint64_t size() const { return size_; }

    // True when `linktype` (a DLT_ value) of a file in the swapped byte order would make
    // libpcap rewrite the frame's pseudo-header, which a read-only mapping cannot do.
    static bool needs_pseudo_header_swap(int linktype);

  private:
    void release_read_pages();
    void populate_ahead();
    // Looks at the file's size, and returns true when it ends before the record at the
    // reading position.
    bool became_shorter();

    const uint8_t* base_ = nullptr;
    uint64_t size_ = 0;  // of the mapping
    // Where records may be read up to: the file's size, lower once another program made the
    // file shorter. The last page before such an end reads as zeros beyond it.
    uint64_t end_ = 0;
    bool shortened_ = false;
    int fd_ = -1;  // kept open to see the file's size change
    uint64_t position_ = 0;
    uint64_t released_ = 0;    // pages before this offset were dropped from memory
    uint64_t populated_ = 0;   // pages before this offset were mapped ahead of reading
    uint64_t prefetched_ = 0;  // bytes before this offset were prefetched into the cache
    uint64_t resident_lag_ = kDefaultResidentLag;
    int linktype_ = 0;
    uint32_t snapshot_ = 0;
    bool swapped_ = false;
    bool nanoseconds_ = false;
    int guard_ = -1;  // the SIGBUS guard slot of this mapping
};

}  // namespace pw::capture
