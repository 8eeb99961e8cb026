#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace pw::capture {

struct Frame;

// Reads the records of a classic pcap file with read(2) into a buffer of its own, a
// chunk at a time. The format (pcap-savefile(5)) is a 24-byte file header, then per packet
// a 16-byte record header and the captured bytes. It reads version 2.4 files with the
// microsecond or nanosecond magic, in either byte order. libpcap still opens every file
// first: it validates the file header, maps the file's LINKTYPE_ value to a DLT_ value and
// adjusts the snapshot length, and this reader takes those from it. It applies libpcap
// 1.10's rules to each record (the same maximum captured length, frames cut to the
// snapshot length, the same errors for damage).
//
// It reads with one copy where libpcap's stdio stream makes two, and each chunk is still
// in the cache when its frames are analyzed. Mapping the file instead cost more: the
// kernel's work to map and unmap each page took longer than copying it.
//
// A frame stays valid until the next call to next(). The reader uses one buffer however
// large the file. As libpcap does, it reads up to the end the file has when the reader
// reaches it, so that it also reads the records appended to a file still being written.
// A file that another program makes shorter meanwhile is reported as damaged where its
// data ends.
class PcapFileReader {
  public:
    PcapFileReader() = default;
    ~PcapFileReader();
    PcapFileReader(const PcapFileReader&) = delete;
    PcapFileReader& operator=(const PcapFileReader&) = delete;

    // Takes `descriptor`, open for reading, if it is a regular file in a format this reader
    // reads (see above). `linktype` (a DLT_ value) and `snapshot` are libpcap's for the file,
    // which libpcap read from the same open file. Returns false, with `descriptor` closed,
    // for any other file, which the caller then reads through libpcap.
    bool open(int descriptor, int linktype, uint32_t snapshot);

    // Closes the file, if one is open.
    void close();

    // Reads the next record into `frame`. Returns 1 for a frame, 0 at the end of the file
    // and -1 when the file is damaged or truncated, with `error` set as libpcap words it.
    int next(Frame& frame, std::string& error);

    // The offset of the next record in the file, and the file's size: when it was opened,
    // or the reading position if that is further.
    uint64_t position() const { return position_; }
    uint64_t size() const { return std::max(size_, position_); }

    // The original length (on the wire) that the record of the last frame gives, which
    // Frame::wire_length raises to the captured length when it is lower.
    uint32_t original_length() const { return original_length_; }

    // True when `linktype` (a DLT_ value) of a file in the swapped byte order would make
    // libpcap rewrite the frame's pseudo-header, which this reader does not do.
    static bool needs_pseudo_header_swap(int linktype);

  private:
    // Makes the `bytes` from file offset `offset` (at or after buffered_from_) readable in
    // the buffer. Returns their address, or nullptr when the file ends before them, with
    // the bytes there are in `available`. `error` is then set for a read that failed or a
    // file shorter than at open().
    const uint8_t* bytes_at(uint64_t offset, uint64_t bytes, uint64_t& available,
                            std::string& error);

    std::unique_ptr<uint8_t[]> buffer_;
    uint64_t buffered_from_ = 0;  // the file offset of buffer_[0]
    uint64_t buffered_to_ = 0;    // the file offset after the last byte read into buffer_
    uint64_t size_ = 0;           // of the file, at open()
    uint32_t original_length_ = 0;
    int fd_ = -1;
    uint64_t position_ = 0;
    int linktype_ = 0;
    uint32_t snapshot_ = 0;
    bool swapped_ = false;
    bool nanoseconds_ = false;
};

}  // namespace pw::capture
