#include "capture/pcap_reader.h"

#include <fcntl.h>
#include <pcap/dlt.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

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

// Read pages are dropped from resident memory every kReleaseStep bytes, the caller's
// resident lag (set_resident_lag()) behind the reading position. Each release covers that
// lag again before its start, for pages that a caller reading behind faulted in again.
// The lag and the step add to the peak memory.
constexpr uint64_t kReleaseStep = 2 << 20;
// Bytes ahead of a record header that are prefetched into the cache, a line at a time.
// The hardware prefetchers stop at each page's end, and most frames are a few hundred bytes.
constexpr uint64_t kPrefetchAhead = 4096;
constexpr uint64_t kCacheLineBytes = 64;
// The pages ahead of the reading position are mapped kPopulateStep bytes at a time, once
// it is within kPopulateAhead of the end of those mapped so far. Mapping them in one call
// costs less than a page fault every few pages. It also lets the prefetches in next()
// reach those pages, since x86 drops a prefetch of a page that is not mapped.
constexpr uint64_t kPopulateStep = 1 << 20;
constexpr uint64_t kPopulateAhead = 512 << 10;

uint32_t byte_swap(uint32_t value) { return __builtin_bswap32(value); }
uint16_t byte_swap(uint16_t value) { return __builtin_bswap16(value); }

template <typename T>
T load(const uint8_t* bytes, bool swapped) {
    T value;
    std::memcpy(&value, bytes, sizeof value);
    return swapped ? byte_swap(value) : value;
}

// The SIGBUS guard. A mapping covers the file's size at open(); if another program then
// truncates the file, touching a page past the new end raises SIGBUS. The handler maps a
// page of zeros over such a page of a registered mapping and flags it, so that the
// access completes and the reader stops at its next record. A SIGBUS elsewhere goes to
// the handler that was installed before.
struct Guard {
    std::atomic<uintptr_t> begin{0};
    std::atomic<uintptr_t> end{0};
    std::atomic<bool> faulted{false};
};
constexpr int kGuards = 16;
Guard guards[kGuards];
struct sigaction previous_action {};
std::atomic<bool> handler_installed{false};
std::mutex guard_mutex;
uintptr_t page_bytes = 4096;

void on_sigbus(int signal, siginfo_t* info, void* context) {
    auto address = reinterpret_cast<uintptr_t>(info->si_addr);
    for (Guard& guard : guards) {
        if (address < guard.begin.load() || address >= guard.end.load()) continue;
        void* page = reinterpret_cast<void*>(address & ~(page_bytes - 1));
        if (mmap(page, page_bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) !=
            MAP_FAILED) {
            guard.faulted.store(true);
            return;
        }
    }
    // Not a page of a mapped capture: restore the previous disposition; returning makes
    // the faulting access run again and reach it.
    sigaction(SIGBUS, &previous_action, nullptr);
    if (!(info->si_code > 0)) {  // sent by kill(), not a fault: deliver it again
        raise(signal);
    }
    (void)context;
}

int register_guard(const uint8_t* base, uint64_t size) {
    std::lock_guard lock(guard_mutex);
    if (!handler_installed.load()) {
        page_bytes = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
        struct sigaction action {};
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        if (sigaction(SIGBUS, &action, &previous_action) != 0) return -1;
        handler_installed.store(true);
    }
    for (int i = 0; i < kGuards; ++i) {
        if (guards[i].end.load() != 0) continue;
        guards[i].faulted.store(false);
        guards[i].begin.store(reinterpret_cast<uintptr_t>(base));
        guards[i].end.store(reinterpret_cast<uintptr_t>(base) + size);
        return i;
    }
    return -1;
}

void unregister_guard(int slot) {
    std::lock_guard lock(guard_mutex);
    guards[slot].end.store(0);
    guards[slot].begin.store(0);
}

}  // namespace

MappedPcapReader::~MappedPcapReader() { close(); }

bool MappedPcapReader::needs_pseudo_header_swap(int linktype) {
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

bool MappedPcapReader::open(const std::string& path, int linktype, uint32_t snapshot) {
    close();
    // O_NONBLOCK, because opening a FIFO whose writer is gone (libpcap already read it)
    // would wait for a new writer. The regular-file check below then leaves it to libpcap.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return false;
    struct stat info {};
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode) ||
        static_cast<uint64_t>(info.st_size) < kFileHeaderBytes) {
        ::close(fd);
        return false;
    }
    auto size = static_cast<uint64_t>(info.st_size);
    void* mapping = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
        ::close(fd);
        return false;
    }
    const auto* base = static_cast<const uint8_t*>(mapping);

    uint32_t magic = load<uint32_t>(base, false);
    bool swapped = magic == byte_swap(kMicrosecondMagic) || magic == byte_swap(kNanosecondMagic);
    if (swapped) magic = byte_swap(magic);
    bool readable = (magic == kMicrosecondMagic || magic == kNanosecondMagic) &&
                    load<uint16_t>(base + 4, swapped) == kVersionMajor &&
                    load<uint16_t>(base + 6, swapped) == kVersionMinor &&
                    !(swapped && needs_pseudo_header_swap(linktype));
    int guard = readable ? register_guard(base, size) : -1;
    if (guard < 0) {
        munmap(mapping, size);
        ::close(fd);
        return false;
    }
    madvise(mapping, size, MADV_SEQUENTIAL);
    base_ = base;
    size_ = size;
    end_ = size;
    shortened_ = false;
    fd_ = fd;
    position_ = kFileHeaderBytes;
    released_ = 0;
    populated_ = 0;
    prefetched_ = kFileHeaderBytes;
    linktype_ = linktype;
    snapshot_ = snapshot;
    swapped_ = swapped;
    nanoseconds_ = magic == kNanosecondMagic;
    guard_ = guard;
    return true;
}

void MappedPcapReader::close() {
    if (base_ == nullptr) return;
    munmap(const_cast<uint8_t*>(base_), size_);
    unregister_guard(guard_);
    ::close(fd_);
    fd_ = -1;
    base_ = nullptr;
    size_ = end_ = position_ = released_ = populated_ = prefetched_ = 0;
    shortened_ = false;
    guard_ = -1;
}

int MappedPcapReader::next(Frame& frame, std::string& error) {
    if (guards[guard_].faulted.load(std::memory_order_relaxed)) {
        error = "the file became shorter while it was read (another program truncated it)";
        return -1;
    }
    uint64_t left = end_ > position_ ? end_ - position_ : 0;
    if (left == 0 && !shortened_) return 0;
    if (shortened_ && left < kRecordHeaderBytes) {
        error = "the file became shorter while it was read (another program truncated it)";
        return -1;
    }
    if (left < kRecordHeaderBytes) {
        error =
            "truncated dump file; tried to read 16 header bytes, only got " + std::to_string(left);
        return -1;
    }
    const uint8_t* header = base_ + position_;
    // Ask for every cache line up to kPrefetchAhead bytes ahead, so that the wait for the
    // records after this one overlaps with the work on this frame.
    const uint64_t prefetch_end = std::min(size_, position_ + kPrefetchAhead);
    for (; prefetched_ < prefetch_end; prefetched_ += kCacheLineBytes) {
        __builtin_prefetch(base_ + prefetched_);
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
    uint32_t original = load<uint32_t>(header + 12, swapped_);
    // A record of zeros is what a page reads as beyond the end of a file made shorter since
    // the last look at its size.
    if ((seconds | fraction | captured | original) == 0 && became_shorter()) {
        error = "the file became shorter while it was read (another program truncated it)";
        return -1;
    }
    if (captured > kMaxCapturedLength) {
        error = "invalid packet capture length " + std::to_string(captured) + ", bigger than " +
                (captured > snapshot_ ? "snaplen of " + std::to_string(snapshot_)
                                      : "maximum of " + std::to_string(kMaxCapturedLength));
        return -1;
    }
    left -= kRecordHeaderBytes;
    if (captured > left && shortened_) {
        error = "the file became shorter while it was read (another program truncated it)";
        return -1;
    }
    if (captured > left) {
        error = "truncated dump file; tried to read " + std::to_string(captured) +
                " captured bytes, only got " + std::to_string(left);
        return -1;
    }
    if (nanoseconds_) fraction /= 1000;
    frame.linktype = linktype_;
    // As libpcap does, a record longer than the file's snapshot length is cut to it.
    frame.data = {header + kRecordHeaderBytes, std::min(captured, snapshot_)};
    frame.wire_length = std::max(original, static_cast<uint32_t>(frame.data.size()));
    frame.time_us = seconds * 1'000'000 + fraction;
    position_ += kRecordHeaderBytes + captured;
    if (position_ - released_ >= resident_lag_ + kReleaseStep) release_read_pages();
    if (populated_ < size_ && populated_ - std::min(populated_, position_) < kPopulateAhead) {
        populate_ahead();
    }
    return 1;
}

void MappedPcapReader::populate_ahead() {
    const uint64_t start = std::max(populated_, position_ & ~(uint64_t{page_bytes} - 1));
    const uint64_t end = std::min(size_, start + kPopulateStep);
    // A failure (a file truncated meanwhile, or a kernel before Linux 5.14) leaves the
    // pages to be faulted in as they are read, as without the call.
    madvise(const_cast<uint8_t*>(base_) + start, end - start, MADV_POPULATE_READ);
    populated_ = end;
    became_shorter();
}

bool MappedPcapReader::became_shorter() {
    // Beyond a shortened file's end the mapping reads as zeros up to the page's end, and
    // then faults: records stop at the new end.
    struct stat info {};
    if (fstat(fd_, &info) == 0 && static_cast<uint64_t>(info.st_size) < end_) {
        end_ = static_cast<uint64_t>(info.st_size);
        shortened_ = true;
    }
    return shortened_ && position_ + kRecordHeaderBytes > end_;
}

void MappedPcapReader::release_read_pages() {
    uint64_t end = (position_ - resident_lag_) & ~(uint64_t{page_bytes} - 1);
    if (end <= released_) return;
    uint64_t start =
        released_ > resident_lag_ ? (released_ - resident_lag_) & ~(uint64_t{page_bytes} - 1) : 0;
    // Only the process's page table entries go: the page cache keeps the data, and a
    // frame that still points there faults its page back in.
    madvise(const_cast<uint8_t*>(base_) + start, end - start, MADV_DONTNEED);
    released_ = end;
}

}  // namespace pw::capture
