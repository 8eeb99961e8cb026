#pragma once

#include <pcap/pcap.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>

#include "capture/pcap_reader.h"
#include "capture/pcapng_reader.h"

namespace pw::capture {

// One frame read from a capture.
struct Frame {
    int linktype = 0;
    std::span<const uint8_t> data;
    uint32_t wire_length = 0;
    int64_t time_us = 0;
};

// The outcome of reading one capture file.
struct ReadResult {
    uint64_t frames = 0;
    bool opened = false;    // false: the file could not be read as a capture at all
    bool complete = false;  // false: reading stopped early on damage (see `error`)
    std::string error;      // why, naming the file; empty when complete
    bool direct = false;    // read by PcapFileReader rather than through libpcap
};

// Reads pcap and pcapng files through libpcap.
class FileReader {
  public:
    using Visit = std::function<void(const Frame& frame)>;
    // Called now and then with the bytes of the file read so far and its size.
    using Progress = std::function<void(uint64_t done, uint64_t total)>;

    // `filter` is a BPF filter expression (tcpdump syntax), empty for none.
    explicit FileReader(std::string filter = {}) : filter_(std::move(filter)) {}

    // Reads every frame of `path`, in file order. Frames of a link type the pipeline does
    // not read are skipped and counted in `unsupported_frames`.
    ReadResult read(const std::string& path, const std::function<bool(int)>& supports_link,
                    const Visit& visit, const Progress& progress = {});

    uint64_t unsupported_frames() const { return unsupported_frames_; }

    // Makes read() return early, as if the file had ended, once `*flag` is non-zero (set
    // by a signal handler).
    void set_stop_flag(const volatile std::sig_atomic_t* flag) { stop_ = flag; }

    // Makes read() return early in the same way once `*flag` is true, a flag that another
    // thread may set (an event writer whose output closed). A read(2) of a pipe already
    // waiting for input still waits for it.
    void set_stop_request(const std::atomic<bool>* flag) { stop_request_ = flag; }

  private:
    struct CompiledFilter {
        bpf_program program{};
        bool valid = false;
        bool warned = false;  // the warning that the filter does not apply was logged
        ~CompiledFilter();
    };

    ReadResult read_direct(const std::string& path, const CompiledFilter& filter,
                           const std::function<bool(int)>& supports_link, const Visit& visit,
                           const Progress& progress);
    void deliver(const std::string& path, const Frame& frame,
                 const std::function<bool(int)>& supports_link, const Visit& visit);
    // Reads standard input or a pipe, once, from its start.
    ReadResult read_stream(const std::string& path, const std::function<bool(int)>& supports_link,
                           const Visit& visit, const Progress& progress);
    // Compiles the filter for `handle`'s link type, if there is one. Throws
    // std::invalid_argument for an invalid filter.
    void compile_filter(pcap_t* handle, CompiledFilter& filter) const;
    // Reads the frames of `handle`, applying `filter`. `classic`: a classic pcap file, whose
    // record times are unsigned. `total` is the input's size for progress, 0 for unknown.
    ReadResult read_with_libpcap(const std::string& path, pcap_t* handle,
                                 const CompiledFilter& filter, bool classic,
                                 const std::function<bool(int)>& supports_link, const Visit& visit,
                                 const Progress& progress, uint64_t total);
    // Reads the packets of `reader`, adding to `result`, and reports the progress through
    // `total` bytes when it is not 0.
    ReadResult read_pcapng(const std::string& path, PcapngReader& reader, ReadResult result,
                           const std::function<bool(int)>& supports_link, const Visit& visit,
                           const Progress& progress, uint64_t total);
    // Applies the filter to `frame`, whose record gives `original_length` as its length on
    // the wire (libpcap gives the filter that, not Frame::wire_length).
    bool filter_matches(const Frame& frame, uint32_t original_length);

    bool stopping() const {
        return (stop_ != nullptr && *stop_ != 0) ||
               (stop_request_ != nullptr && stop_request_->load(std::memory_order_relaxed));
    }

    std::string filter_;
    const volatile std::sig_atomic_t* stop_ = nullptr;
    const std::atomic<bool>* stop_request_ = nullptr;
    uint64_t unsupported_frames_ = 0;
    int checked_linktype_ = -1;
    bool linktype_supported_ = false;
    std::set<int> warned_linktypes_;
    std::map<int, std::unique_ptr<CompiledFilter>> fallback_filters_;
    PcapFileReader direct_;
};

}  // namespace pw::capture
