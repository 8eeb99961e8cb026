#include "capture/file_reader.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <memory>
#include <stdexcept>

namespace pw::capture {
namespace {

// Frames between two progress reports: often enough for a smooth display, rare enough
// that ftell costs nothing.
constexpr uint64_t kProgressEveryFrames = 4096;

struct PcapCloser {
    void operator()(pcap_t* handle) const { pcap_close(handle); }
};

uint64_t file_size(const std::string& path) {
    struct stat info {};
    return stat(path.c_str(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
}

}  // namespace

ReadResult FileReader::read(const std::string& path, const std::function<bool(int)>& supports_link,
                            const Visit& visit, const Progress& progress) {
    ReadResult result;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    std::unique_ptr<pcap_t, PcapCloser> handle(
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO,
                                                errbuf));
    if (!handle) {
        result.error = "cannot read '" + path + "' as a pcap or pcapng capture: " + errbuf;
        return result;
    }
    result.opened = true;

    if (!filter_.empty()) {
        bpf_program program{};
        if (pcap_compile(handle.get(), &program, filter_.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
            throw std::invalid_argument("invalid BPF filter '" + filter_ +
                                        "': " + pcap_geterr(handle.get()));
        }
        int status = pcap_setfilter(handle.get(), &program);
        pcap_freecode(&program);
        if (status != 0) {
            throw std::invalid_argument("cannot apply BPF filter '" + filter_ +
                                        "': " + pcap_geterr(handle.get()));
        }
    }

    int linktype = pcap_datalink(handle.get());
    bool supported = supports_link(linktype);
    if (!supported) {
        const char* name = pcap_datalink_val_to_name(linktype);
        spdlog::error("'{}' has link type {} ({}), which protowatch does not decode; its "
                      "frames are skipped",
                      path, linktype, name != nullptr ? name : "unknown");
    }

    uint64_t total = file_size(path);
    FILE* stream = pcap_file(handle.get());
    while (true) {
        pcap_pkthdr* header = nullptr;
        const u_char* bytes = nullptr;
        int status = pcap_next_ex(handle.get(), &header, &bytes);
        if (status == PCAP_ERROR_BREAK) break;  // end of file
        if (status == PCAP_ERROR) {
            result.error = "reading '" + path + "' stopped after frame " +
                           std::to_string(result.frames) + ": " + pcap_geterr(handle.get()) +
                           "; the file is damaged or truncated, and the flows before the "
                           "damage are reported";
            return result;
        }
        if (status != 1) continue;  // 0 does not happen for files; skip defensively
        ++result.frames;
        if (!supported) {
            ++unsupported_frames_;
            continue;
        }
        // A record can claim more captured bytes than libpcap hands back; use the smaller.
        Frame frame;
        frame.linktype = linktype;
        frame.data = {bytes, header->caplen};
        frame.wire_length = std::max(header->len, header->caplen);
        frame.time_us = static_cast<int64_t>(header->ts.tv_sec) * 1'000'000 + header->ts.tv_usec;
        visit(frame);
        if (progress && stream != nullptr && result.frames % kProgressEveryFrames == 0) {
            long position = std::ftell(stream);
            if (position >= 0) progress(static_cast<uint64_t>(position), total);
        }
    }
    if (progress) progress(total, total);
    result.complete = true;
    return result;
}

}  // namespace pw::capture
