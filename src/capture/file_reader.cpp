#include "capture/file_reader.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <stdexcept>

#include "capture/pcapng_reader.h"
#include "common/ascii.h"

namespace pw::capture {
namespace {

// Frames between two progress reports: often enough for a smooth display, rare enough
// that ftell costs nothing.
constexpr uint64_t kProgressEveryFrames = 4096;

struct PcapCloser {
    void operator()(pcap_t* handle) const { pcap_close(handle); }
};

// The stdio buffer of a capture file. libpcap reads each record with fread, and stdio's
// default 4 KiB buffer turns a large capture into a read system call every few packets.
constexpr size_t kReadBufferBytes = 1 << 20;

// Opens `path` for libpcap, with a large stdio buffer when `large_buffer`. pcap_close
// closes the stream, and `buffer` must outlive the handle.
pcap_t* open_capture(const std::string& path, bool large_buffer, std::unique_ptr<char[]>& buffer,
                     char* errbuf) {
    FILE* stream = std::fopen(path.c_str(), "rb");
    if (stream == nullptr) {
        std::snprintf(errbuf, PCAP_ERRBUF_SIZE, "%s", std::strerror(errno));
        return nullptr;
    }
    if (large_buffer) {
        // Not zeroed: stdio writes the buffer before it reads from it.
        buffer = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);
        std::setvbuf(stream, buffer.get(), _IOFBF, kReadBufferBytes);
    }
    pcap_t* handle =
        pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (handle == nullptr) std::fclose(stream);
    return handle;
}

struct GzipStream;

// A stream read once (standard input, a pipe) whose first bytes were already read to
// choose its reader: a stdio stream over it gives those bytes first, then the rest. It
// reads the descriptor with one read(2) per request, so that frames are analyzed as they
// arrive rather than once a whole buffer filled. With `inflater` set, it reads what that
// decompresses instead.
struct ReplayedStream {
    int descriptor = -1;
    GzipStream* inflater = nullptr;
    const volatile std::sig_atomic_t* stop = nullptr;  // see FileReader::set_stop_flag()
    uint8_t start[4] = {};
    size_t start_size = 0;
    size_t start_read = 0;

    // Reads up to `size` bytes with one read(2), going on after a signal unless it stops the
    // run, or from `inflater` when set. Returns what read(2) returns.
    ssize_t read_some(void* out, size_t size) const;

    // Returns the first 4 bytes as a big-endian number, 0 in the bytes not read.
    uint32_t magic() const {
        return uint32_t{start[0]} << 24 | uint32_t{start[1]} << 16 | uint32_t{start[2]} << 8 |
               start[3];
    }

    // Reads the first bytes: as many as `start` has room for, unless the stream ends first.
    void read_start() {
        while (start_size < sizeof start) {
            ssize_t got = read_some(start + start_size, sizeof start - start_size);
            if (got <= 0) return;
            start_size += static_cast<size_t>(got);
        }
    }

    static ssize_t read(void* cookie, char* out, size_t size) {
        auto& stream = *static_cast<ReplayedStream*>(cookie);
        if (stream.start_read < stream.start_size) {
            size_t done = std::min(size, stream.start_size - stream.start_read);
            std::memcpy(out, stream.start + stream.start_read, done);
            stream.start_read += done;
            return static_cast<ssize_t>(done);
        }
        return stream.read_some(out, size);
    }
    // The descriptor stays open: its owner closes it.
    static int close(void*) { return 0; }
};

// The gzip members (RFC 1952) of a compressed stream, decompressed as they are read, such
// as the files that `tcpdump -z gzip` leaves after rotating. Invalid data, or an input that
// ends inside a member, reads as an I/O error once the bytes decompressed before it are
// read, and `problem` then names the cause.
struct GzipStream {
    static constexpr size_t kInputBytes = 64 * 1024;

    explicit GzipStream(ReplayedStream& compressed) : source(compressed) {
        // 16 added to the window bits reads the gzip wrapper (zlib's manual, inflateInit2).
        ok = inflateInit2(&inflater, 16 + MAX_WBITS) == Z_OK;
        if (!ok) problem = "zlib could not start decompressing";
    }
    ~GzipStream() {
        if (ok) inflateEnd(&inflater);
    }
    GzipStream(const GzipStream&) = delete;
    GzipStream& operator=(const GzipStream&) = delete;

    // Returns up to `size` decompressed bytes, at least one unless the stream ended (0) or
    // failed (-1 with errno set).
    ssize_t read_some(void* out, size_t size) {
        if (!problem.empty()) {
            errno = EIO;
            return -1;
        }
        inflater.next_out = static_cast<Bytef*>(out);
        inflater.avail_out = static_cast<uInt>(std::min<size_t>(size, UINT32_MAX));
        const uInt requested = inflater.avail_out;
        while (inflater.avail_out == requested && problem.empty()) {
            if (inflater.avail_in == 0) {
                ssize_t got =
                    ReplayedStream::read(&source, reinterpret_cast<char*>(input), sizeof input);
                if (got < 0) return -1;
                if (got == 0) {
                    // The end of the input: a clean end after a whole member.
                    if (!inside_member) return 0;
                    problem = "the gzip data is truncated";
                    break;
                }
                inflater.next_in = input;
                inflater.avail_in = static_cast<uInt>(got);
                inside_member = true;
            }
            int status = inflate(&inflater, Z_NO_FLUSH);
            if (status == Z_STREAM_END) {
                // Another member may follow (RFC 1952 section 2.2), as `cat a.gz b.gz` makes.
                inside_member = inflater.avail_in > 0;
                if (inflateReset(&inflater) != Z_OK) problem = "zlib could not start a member";
                continue;
            }
            if (status != Z_OK && status != Z_BUF_ERROR) {
                problem = std::string("the gzip data is invalid (") +
                          (inflater.msg != nullptr ? inflater.msg : "zlib error") + ")";
            }
        }
        const uInt produced = requested - inflater.avail_out;
        if (produced == 0 && !problem.empty()) {
            errno = EIO;
            return -1;
        }
        return static_cast<ssize_t>(produced);
    }

    ReplayedStream& source;
    z_stream inflater{};
    Bytef input[kInputBytes];
    bool ok = false;
    bool inside_member = false;  // bytes of a member were read, but not yet its end
    std::string problem;         // the reason the stream failed, empty until it does
};

ssize_t ReplayedStream::read_some(void* out, size_t size) const {
    if (inflater != nullptr) return inflater->read_some(out, size);
    while (true) {
        ssize_t got = ::read(descriptor, out, size);
        if (got >= 0 || errno != EINTR || (stop != nullptr && *stop != 0)) return got;
    }
}

// True when `magic`, the first 4 bytes of an input read as a big-endian number, starts with
// the magic number of gzip.
bool is_gzip_magic(uint32_t magic) { return magic >> 16 == 0x1F8B; }

struct FileCloser {
    void operator()(FILE* file) const { std::fclose(file); }
};

// Returns how messages name the input `path`: quoted, or "standard input" for "-".
std::string input_name(const std::string& path) {
    // A file name may hold control characters, which a terminal showing the log would act on.
    return path == "-" ? "standard input" : "'" + terminal_safe(path) + "'";
}

// Returns the message for an input that cannot be read as a capture at all.
std::string open_error(const std::string& path, const std::string& reason) {
    return "cannot read " + input_name(path) + " as a pcap or pcapng capture: " + reason;
}

std::string damage_message(const std::string& path, uint64_t frames, const std::string& reason) {
    return "reading " + input_name(path) + " stopped after frame " + std::to_string(frames) + ": " +
           reason +
           "; the file is damaged or truncated, and the flows before the damage are reported";
}

// Marks a read that `inflater` failed as incomplete, with the gzip problem as its error.
// The capture's reader saw an I/O error, or an end at a block boundary.
void name_gzip_problem(const std::string& path, const GzipStream* inflater, ReadResult& result) {
    if (inflater == nullptr || inflater->problem.empty()) return;
    result.complete = false;
    result.error = damage_message(path, result.frames, inflater->problem);
}

// The first 4 bytes of `path`, read as a big-endian number, when it is a regular file (a
// FIFO cannot be read again) that has them; 0 otherwise.
uint32_t magic_of_regular_file(const std::string& path) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return 0;
    std::ifstream in(path, std::ios::binary);
    uint8_t magic[4] = {};
    in.read(reinterpret_cast<char*>(magic), sizeof magic);
    if (!in) return 0;
    return uint32_t{magic[0]} << 24 | uint32_t{magic[1]} << 16 | uint32_t{magic[2]} << 8 | magic[3];
}

// The magic numbers of classic pcap files: either byte order, micro- or nanosecond times.
bool is_classic_pcap_magic(uint32_t magic) {
    return magic == 0xA1B2C3D4 || magic == 0xD4C3B2A1 || magic == 0xA1B23C4D || magic == 0x4D3CB2A1;
}

// The block type of a pcapng section header, the same in either byte order.
constexpr uint32_t kPcapngSectionHeader = 0x0A0D0D0A;

// True when `path` is a regular file that starts with a pcapng section header block.
bool is_pcapng_file(const std::string& path) {
    return magic_of_regular_file(path) == kPcapngSectionHeader;
}

// True when `path` is a regular file that starts with a classic pcap file header (either
// byte order, micro- or nanosecond times), which read() reads with PcapFileReader.
bool is_classic_pcap_file(const std::string& path) {
    return is_classic_pcap_magic(magic_of_regular_file(path));
}

// True for standard input and for paths that are not regular files (a pipe, say): their
// bytes can be read only once, in order.
bool is_stream(const std::string& path) {
    struct stat info {};
    return path == "-" || (stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode));
}

uint64_t file_size(const std::string& path) {
    struct stat info {};
    return stat(path.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
}

// Compiles `filter` for frames of `linktype` into `program`, or returns false with the
// reason in `problem`. libpcap 1.10 compiles the AF_ value of a DLT_NULL header as any
// BSD's when its handle reads a file, but as this host's without one (AF_INET6 is 10 on
// Linux, 24, 28 or 30 on the BSDs). So those link types compile on an empty capture file
// of their own.
bool compile_for(int linktype, const std::string& filter, bpf_program& program,
                 std::string& problem) {
    constexpr int kSnapshot = 262144;
    pcap_t* handle = nullptr;
    FILE* file = nullptr;
    uint32_t header[6] = {0xa1b2c3d4, 2u | (4u << 16), 0,
                          0,          kSnapshot,       static_cast<uint32_t>(linktype)};
    if (linktype == DLT_NULL || linktype == DLT_LOOP) {
        char errbuf[PCAP_ERRBUF_SIZE] = {};
        file = fmemopen(header, sizeof header, "rb");
        if (file != nullptr) handle = pcap_fopen_offline(file, errbuf);
        if (handle == nullptr && file != nullptr) std::fclose(file);
    }
    if (handle == nullptr) handle = pcap_open_dead(linktype, kSnapshot);
    if (handle == nullptr) {
        problem = "out of memory";
        return false;
    }
    const bool compiled =
        pcap_compile(handle, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
    if (!compiled) problem = pcap_geterr(handle);
    pcap_close(handle);  // closes `file` too
    return compiled;
}

}  // namespace

ReadResult FileReader::read(const std::string& path, const std::function<bool(int)>& supports_link,
                            const Visit& visit, const Progress& progress) {
    // A compressed file is read once, in order, as a stream is.
    if (is_stream(path) || is_gzip_magic(magic_of_regular_file(path))) {
        return read_stream(path, supports_link, visit, progress);
    }
    ReadResult result;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<char[]> buffer;
    // A classic pcap file is likely read by PcapFileReader, so libpcap only reads its header
    // and needs no large buffer.
    const bool classic = is_classic_pcap_file(path);
    std::unique_ptr<pcap_t, PcapCloser> handle(open_capture(path, !classic, buffer, errbuf));
    if (is_pcapng_file(path)) {
        // pcapng files are read by the project's reader, as streams are. libpcap 1.10
        // rejects a file whose first section has no interface (an empty capture). It stops
        // at an interface whose link type differs from the first one's and at a section in
        // the other byte order, and it reads sections of another major version. It still
        // checks the filter against the first interface's link type when it opens the file.
        fallback_filters_.clear();
        if (handle) {
            // The program libpcap compiles for the file serves the first link type, since
            // libpcap compiles some link types for a file otherwise (compile_for()).
            auto compiled = std::make_unique<CompiledFilter>();
            compile_filter(handle.get(), *compiled);
            if (compiled->valid)
                fallback_filters_[pcap_datalink(handle.get())] = std::move(compiled);
            handle.reset();
        }
        PcapngReader reader;
        std::string error;
        if (!reader.open(path, error)) {
            result.error = open_error(path, error);
            return result;
        }
        result.opened = true;
        return read_pcapng(path, reader, result, supports_link, visit, progress, file_size(path));
    }
    if (!handle) {
        struct stat info {};
        bool empty = stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && info.st_size == 0;
        result.error = open_error(path, empty ? "the file is empty (0 bytes)" : errbuf);
        return result;
    }
    result.opened = true;
    CompiledFilter filter;
    compile_filter(handle.get(), filter);

    // Classic pcap files of a link type the pipeline decodes are read by PcapFileReader, and
    // pcapng files and the rest by libpcap. PcapFileReader gets a copy of libpcap's
    // descriptor, because opening the path again could open a file that replaced it since.
    int linktype = pcap_datalink(handle.get());
    if (supports_link(linktype) &&
        direct_.open(fcntl(fileno(pcap_file(handle.get())), F_DUPFD_CLOEXEC, 0), linktype,
                     static_cast<uint32_t>(pcap_snapshot(handle.get())))) {
        handle.reset();
        result = read_direct(path, filter, supports_link, visit, progress);
        direct_.close();
        return result;
    }
    if (classic) {
        // Not read by PcapFileReader after all (a link type the pipeline does not decode,
        // say): libpcap reads it, with the large buffer this time.
        handle.reset(open_capture(path, true, buffer, errbuf));
        if (!handle) {
            result.error = open_error(path, errbuf);
            return result;
        }
    }
    return read_with_libpcap(path, handle.get(), filter, classic, supports_link, visit, progress,
                             file_size(path));
}

ReadResult FileReader::read_stream(const std::string& path,
                                   const std::function<bool(int)>& supports_link,
                                   const Visit& visit, const Progress& progress) {
    ReadResult result;
    FILE* source = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (source == nullptr) {
        result.error = open_error(path, std::strerror(errno));
        return result;
    }
    std::unique_ptr<FILE, FileCloser> owned(source == stdin ? nullptr : source);
    // The first 4 bytes choose the reader, which reads the stream from its start again.
    // Only the descriptor is read, so that no bytes wait in `source`'s stdio buffer. Those
    // of a gzip stream choose it for what it decompresses to.
    ReplayedStream compressed;
    compressed.descriptor = fileno(source);
    compressed.stop = stop_;
    compressed.read_start();
    std::unique_ptr<GzipStream> inflater;
    ReplayedStream decompressed;
    ReplayedStream* chosen = &compressed;
    if (is_gzip_magic(compressed.magic())) {
        inflater = std::make_unique<GzipStream>(compressed);
        decompressed.inflater = inflater.get();
        decompressed.stop = stop_;
        decompressed.read_start();
        chosen = &decompressed;
    }
    ReplayedStream& replayed = *chosen;
    fallback_filters_.clear();
    const uint32_t magic = replayed.magic();
    // Not zeroed: stdio writes the buffer before it reads from it. It outlives `stream`.
    auto buffer = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);
    FILE* stream = fopencookie(&replayed, "rb",
                               {&ReplayedStream::read, nullptr, nullptr, &ReplayedStream::close});
    if (stream == nullptr) {
        result.error = "cannot read " + input_name(path) + ": " + std::strerror(errno);
        return result;
    }
    std::setvbuf(stream, buffer.get(), _IOFBF, kReadBufferBytes);

    if (replayed.start_size == sizeof replayed.start && magic == kPcapngSectionHeader) {
        // libpcap 1.10 stops at the pcapng files whose interfaces or sections differ, and a
        // stream cannot be read again from there: the project's reader reads all of it.
        std::unique_ptr<FILE, FileCloser> closing(stream);
        PcapngReader reader;
        std::string error;
        if (!reader.open_stream(stream, error)) {
            result.error = open_error(path, error);
            return result;
        }
        result.opened = true;
        result = read_pcapng(path, reader, result, supports_link, visit, {}, 0);
        name_gzip_problem(path, inflater.get(), result);
        return result;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, PcapCloser> handle(
        pcap_fopen_offline_with_tstamp_precision(stream, PCAP_TSTAMP_PRECISION_MICRO, errbuf));
    if (!handle) {
        std::fclose(stream);
        std::string reason = replayed.start_size == 0 ? "the input is empty (0 bytes)" : errbuf;
        if (inflater && !inflater->problem.empty()) {
            reason = inflater->problem + ", so it cannot be decompressed";
        } else if (inflater) {
            reason = "after gzip decompression, " + reason;
        }
        result.error = open_error(path, reason);
        return result;
    }
    result.opened = true;
    CompiledFilter filter;
    compile_filter(handle.get(), filter);
    result = read_with_libpcap(path, handle.get(), filter, is_classic_pcap_magic(magic),
                               supports_link, visit, progress, 0);
    name_gzip_problem(path, inflater.get(), result);
    return result;
}

void FileReader::compile_filter(pcap_t* handle, CompiledFilter& filter) const {
    if (filter_.empty()) return;
    if (pcap_compile(handle, &filter.program, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        throw std::invalid_argument("invalid BPF filter '" + filter_ + "': " + pcap_geterr(handle));
    }
    filter.valid = true;
}

ReadResult FileReader::read_with_libpcap(const std::string& path, pcap_t* handle,
                                         const CompiledFilter& filter, bool classic,
                                         const std::function<bool(int)>& supports_link,
                                         const Visit& visit, const Progress& progress,
                                         uint64_t total) {
    ReadResult result;
    result.opened = true;
    const int linktype = pcap_datalink(handle);
    FILE* stream = pcap_file(handle);
    while (!stopping()) {
        pcap_pkthdr* header = nullptr;
        const u_char* bytes = nullptr;
        int status = pcap_next_ex(handle, &header, &bytes);
        if (status == PCAP_ERROR_BREAK) break;  // end of file
        if (status == PCAP_ERROR) {
            // A signal that stops the run may interrupt a read of a pipe: not damage.
            if (stopping()) break;
            result.error = damage_message(path, result.frames, pcap_geterr(handle));
            return result;
        }
        if (status != 1) continue;  // 0 does not happen for files; skip defensively
        if (filter.valid && pcap_offline_filter(&filter.program, header, bytes) == 0) continue;
        ++result.frames;
        Frame frame;
        frame.linktype = linktype;
        frame.data = {bytes, header->caplen};
        frame.wire_length = std::max(header->len, header->caplen);
        int64_t seconds = header->ts.tv_sec;
        if (classic) {
            // A classic pcap record's seconds are an unsigned 32-bit count, which libpcap
            // 1.10 sign-extends in a file of the host's byte order: times after January 2038
            // would become times before 1970.
            seconds = static_cast<uint32_t>(seconds);
        } else {
            // A damaged pcapng timestamp can exceed what int64 microseconds hold; clamp its
            // seconds so that the conversion cannot overflow.
            constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1'000'000 - 1'000;
            seconds = std::clamp<int64_t>(seconds, -kMaxSeconds, kMaxSeconds);
        }
        frame.time_us = seconds * 1'000'000 + header->ts.tv_usec;
        deliver(path, frame, supports_link, visit);
        if (progress && total > 0 && stream != nullptr &&
            result.frames % kProgressEveryFrames == 0) {
            long position = std::ftell(stream);
            if (position >= 0) progress(static_cast<uint64_t>(position), total);
        }
    }
    if (progress && total > 0) progress(total, total);
    result.complete = true;
    return result;
}

ReadResult FileReader::read_direct(const std::string& path, const CompiledFilter& filter,
                                   const std::function<bool(int)>& supports_link,
                                   const Visit& visit, const Progress& progress) {
    ReadResult result;
    result.opened = true;
    result.direct = true;
    Frame frame;
    std::string error;
    int status = 0;
    while (!stopping() && (status = direct_.next(frame, error)) == 1) {
        if (filter.valid) {
            // The record's own lengths, as libpcap gives the filter.
            pcap_pkthdr header{};
            header.caplen = static_cast<bpf_u_int32>(frame.data.size());
            header.len = direct_.original_length();
            if (pcap_offline_filter(&filter.program, &header, frame.data.data()) == 0) continue;
        }
        ++result.frames;
        deliver(path, frame, supports_link, visit);
        if (progress && result.frames % kProgressEveryFrames == 0) {
            progress(direct_.position(), direct_.size());
        }
    }
    if (status < 0) {
        result.error = damage_message(path, result.frames, error);
        return result;
    }
    if (progress) progress(direct_.size(), direct_.size());
    result.complete = true;
    return result;
}

void FileReader::deliver(const std::string& path, const Frame& frame,
                         const std::function<bool(int)>& supports_link, const Visit& visit) {
    if (frame.linktype != checked_linktype_) {
        checked_linktype_ = frame.linktype;
        linktype_supported_ = supports_link(frame.linktype);
        if (!linktype_supported_ && warned_linktypes_.insert(frame.linktype).second) {
            const char* name = pcap_datalink_val_to_name(frame.linktype);
            spdlog::error(
                "{} has frames of link type {} ({}), which protowatch does not decode; "
                "they are skipped. The link types it decodes are listed in its README",
                input_name(path), frame.linktype, name != nullptr ? name : "unknown");
        }
    }
    if (!linktype_supported_) {
        ++unsupported_frames_;
        return;
    }
    visit(frame);
}

bool FileReader::filter_matches(const Frame& frame, uint32_t original_length) {
    auto it = fallback_filters_.find(frame.linktype);
    if (it == fallback_filters_.end()) {
        auto compiled = std::make_unique<CompiledFilter>();
        std::string problem;
        compiled->valid = compile_for(frame.linktype, filter_, compiled->program, problem);
        // A filter that the first link type rejects is invalid for the input, as libpcap
        // finds when it opens a file.
        if (!compiled->valid && fallback_filters_.empty()) {
            throw std::invalid_argument("invalid BPF filter '" + filter_ + "': " + problem);
        }
        it = fallback_filters_.emplace(frame.linktype, std::move(compiled)).first;
    }
    // A filter that does not compile for this link type matches none of its frames, as
    // libpcap would not apply it to them either. A warning is logged once per link type.
    if (!it->second->valid) {
        if (it->second->warned) return false;
        it->second->warned = true;
        const char* name = pcap_datalink_val_to_name(frame.linktype);
        spdlog::warn(
            "the filter '{}' does not apply to frames of link type {} ({}), so they "
            "are skipped; give a filter that every interface's link type accepts",
            filter_, frame.linktype, name != nullptr ? name : "unknown");
        return false;
    }
    pcap_pkthdr header{};
    header.caplen = static_cast<bpf_u_int32>(frame.data.size());
    header.len = original_length;
    return pcap_offline_filter(&it->second->program, &header, frame.data.data()) != 0;
}

FileReader::CompiledFilter::~CompiledFilter() {
    if (valid) pcap_freecode(&program);
}

ReadResult FileReader::read_pcapng(const std::string& path, PcapngReader& reader, ReadResult result,
                                   const std::function<bool(int)>& supports_link,
                                   const Visit& visit, const Progress& progress, uint64_t total) {
    PcapngReader::Packet packet;
    std::string error;
    int status = 0;
    uint64_t packets = 0;
    while (!stopping() && (status = reader.next(packet, error)) == 1) {
        if (progress && total > 0 && ++packets % kProgressEveryFrames == 0) {
            const long position = reader.position();
            if (position >= 0) progress(static_cast<uint64_t>(position), total);
        }
        Frame frame;
        frame.linktype = packet.linktype;
        frame.data = {packet.data, packet.captured};
        frame.wire_length = std::max(packet.wire_length, packet.captured);
        frame.time_us = packet.time_us;
        if (!filter_.empty() && !filter_matches(frame, packet.wire_length)) continue;
        ++result.frames;
        deliver(path, frame, supports_link, visit);
    }
    // A signal that stops the run may interrupt a read of a pipe: not damage.
    if (status < 0 && !stopping()) {
        result.error = damage_message(path, result.frames, error);
        return result;
    }
    if (progress && total > 0) progress(total, total);
    result.complete = true;
    return result;
}

}  // namespace pw::capture
