#include "capture/pcap_reader.h"

#include <fcntl.h>
#include <pcap/dlt.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "capture/file_reader.h"

namespace pw::capture {
namespace {

constexpr size_t kFileHeaderBytes = 24;
constexpr size_t kRecordHeaderBytes = 16;
constexpr uint32_t kMicrosecondMagic = 0xA1B2C3D4;
constexpr uint32_t kNanosecondMagic = 0xA1B23C4D;
constexpr uint16_t kVersionMajor = 2;
constexpr uint16_t kVersionMinor = 4;
// libpcap 1.10's largest captured length for every link type but D-Bus, EBHSCR and
// USBPcap (MAXIMUM_SNAPLEN in pcap-int.h), which the pipeline does not decode.
constexpr uint32_t kMaxCapturedLength = 262144;
// Each read(2) requests this many bytes: few enough that the chunk is still in the
// caches (L2 is 256 KiB to 2 MiB per core on current x86) when its frames are analyzed,
// many enough that the calls cost little. 64 KiB and 256 KiB were not faster.
constexpr uint64_t kReadBytes = 128 << 10;
// Room for the longest record and a chunk after it.
constexpr uint64_t kBufferBytes = 512 << 10;
static_assert(kBufferBytes >= kRecordHeaderBytes + kMaxCapturedLength + kReadBytes);

constexpr const char* kShortened =
    "the file became shorter while it was read (another program truncated it)";

uint32_t byte_swap(uint32_t value) { return __builtin_bswap32(value); }
uint16_t byte_swap(uint16_t value) { return __builtin_bswap16(value); }

template <typename T>
T load(const uint8_t* bytes, bool swapped) {
    T value;
    std::memcpy(&value, bytes, sizeof value);
    return swapped ? byte_swap(value) : value;
}

}  // namespace

PcapFileReader::~PcapFileReader() { close(); }

bool PcapFileReader::needs_pseudo_header_swap(int linktype) {
    // The link types whose pseudo-header libpcap (1.10 and later) converts to the host's
    // byte order in files written in the other one (swap_pseudo_headers in pcap-util.c).
    switch (linktype) {
        case DLT_PFLOG:
        case DLT_LINUX_SLL:
        case DLT_LINUX_SLL2:
        case DLT_USB_LINUX:
        case DLT_USB_LINUX_MMAPPED:
        case DLT_NFLOG:
            return true;
        default:
            return false;
    }
}

bool PcapFileReader::open(int descriptor, int linktype, uint32_t snapshot) {
    close();
    struct stat info {};
    uint8_t header[kFileHeaderBytes];
    if (fstat(descriptor, &info) != 0 || !S_ISREG(info.st_mode) ||
        pread(descriptor, header, sizeof header, 0) != static_cast<ssize_t>(sizeof header)) {
        ::close(descriptor);
        return false;
    }
    uint32_t magic = load<uint32_t>(header, false);
    bool swapped = magic == byte_swap(kMicrosecondMagic) || magic == byte_swap(kNanosecondMagic);
    if (swapped) magic = byte_swap(magic);
    bool readable = (magic == kMicrosecondMagic || magic == kNanosecondMagic) &&
                    load<uint16_t>(header + 4, swapped) == kVersionMajor &&
                    load<uint16_t>(header + 6, swapped) == kVersionMinor &&
                    !(swapped && needs_pseudo_header_swap(linktype));
    if (!readable) {
        ::close(descriptor);
        return false;
    }
    // Sequential reading: the kernel reads ahead further, and drops what was read sooner.
    posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL);
    // Not zeroed: only bytes read from the file are ever looked at.
    if (buffer_ == nullptr) buffer_ = std::make_unique_for_overwrite<uint8_t[]>(kBufferBytes);
    buffered_from_ = buffered_to_ = kFileHeaderBytes;
    size_ = static_cast<uint64_t>(info.st_size);
    fd_ = descriptor;
    position_ = kFileHeaderBytes;
    linktype_ = linktype;
    snapshot_ = snapshot;
    swapped_ = swapped;
    nanoseconds_ = magic == kNanosecondMagic;
    return true;
}

void PcapFileReader::close() {
    if (fd_ < 0) return;
    ::close(fd_);
    fd_ = -1;
    size_ = position_ = buffered_from_ = buffered_to_ = 0;
}

const uint8_t* PcapFileReader::bytes_at(uint64_t offset, uint64_t bytes, uint64_t& available,
                                        std::string& error) {
    if (offset + bytes <= buffered_to_) return buffer_.get() + (offset - buffered_from_);
    // The part already read moves to the buffer's start, and chunks follow it.
    const uint64_t unread = buffered_to_ - offset;
    std::memmove(buffer_.get(), buffer_.get() + (offset - buffered_from_), unread);
    buffered_from_ = offset;
    while (buffered_to_ < offset + bytes) {
        const uint64_t room = kBufferBytes - (buffered_to_ - buffered_from_);
        ssize_t got = pread(fd_, buffer_.get() + (buffered_to_ - buffered_from_),
                            std::min(kReadBytes, room), static_cast<off_t>(buffered_to_));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            error = std::string("error reading dump file: ") + std::strerror(errno);
            return nullptr;
        }
        if (got == 0) {
            // The end of the file, as it is now: a file still being written may have grown
            // since open(), and one that another program cut is shorter than it was.
            available = buffered_to_ - offset;
            if (buffered_to_ < size_) error = kShortened;
            return nullptr;
        }
        buffered_to_ += static_cast<uint64_t>(got);
    }
    return buffer_.get() + (offset - buffered_from_);
}

int PcapFileReader::next(Frame& frame, std::string& error) {
    uint64_t available = 0;
    const uint8_t* header = bytes_at(position_, kRecordHeaderBytes, available, error);
    if (header == nullptr) {
        if (!error.empty()) return -1;
        if (available == 0) return 0;  // the end of the file, between two records
        error = "truncated dump file; tried to read 16 header bytes, only got " +
                std::to_string(available);
        return -1;
    }
    // The record header: seconds, microseconds (or nanoseconds), captured and original
    // length, each 32 bits in the file's byte order. The seconds are unsigned, so that
    // times go on to 2106. libpcap 1.10 takes the two times as signed in a file of the
    // host's byte order, and as unsigned once it swapped them. The fraction is read as
    // libpcap reads it.
    int64_t seconds = load<uint32_t>(header, swapped_);
    int64_t fraction = load<uint32_t>(header + 4, swapped_);
    if (!swapped_) fraction = static_cast<int32_t>(fraction);
    uint32_t captured = load<uint32_t>(header + 8, swapped_);
    original_length_ = load<uint32_t>(header + 12, swapped_);
    if (captured > kMaxCapturedLength) {
        error = "invalid packet capture length " + std::to_string(captured) + ", bigger than " +
                (captured > snapshot_ ? "snaplen of " + std::to_string(snapshot_)
                                      : "maximum of " + std::to_string(kMaxCapturedLength));
        return -1;
    }
    header = bytes_at(position_, kRecordHeaderBytes + captured, available, error);
    if (header == nullptr) {
        if (!error.empty()) return -1;
        // libpcap reads a record longer than the snapshot length in two steps, the
        // snapshot length and then the rest, and names the step that came short.
        const uint64_t got = available - kRecordHeaderBytes;
        const uint32_t tried = captured > snapshot_ && got < snapshot_ ? snapshot_ : captured;
        error = "truncated dump file; tried to read " + std::to_string(tried) +
                " captured bytes, only got " + std::to_string(got);
        return -1;
    }
    if (nanoseconds_) fraction /= 1000;
    frame.linktype = linktype_;
    // As libpcap does, a record longer than the file's snapshot length is cut to it.
    frame.data = {header + kRecordHeaderBytes, std::min(captured, snapshot_)};
    frame.wire_length = std::max(original_length_, static_cast<uint32_t>(frame.data.size()));
    frame.time_us = seconds * 1'000'000 + fraction;
    position_ += kRecordHeaderBytes + captured;
    return 1;
}

}  // namespace pw::capture
