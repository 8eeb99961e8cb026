// Reads the input as a capture file (pcap or pcapng) through the reader and the pipeline.
// When PcapFileReader reads a classic pcap file instead of libpcap, libpcap reads it too,
// and any difference in the frames or in where reading stops is a finding.

#include <pcap/pcap.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "capture/file_reader.h"
#include "pipeline/pipeline.h"

namespace {

struct FrameCopy {
    int linktype;
    std::vector<uint8_t> data;
    uint32_t wire_length;
    int64_t time_us;
    bool operator==(const FrameCopy&) const = default;
};

FrameCopy copy_of(const pw::capture::Frame& frame) {
    return {
        frame.linktype, {frame.data.begin(), frame.data.end()}, frame.wire_length, frame.time_us};
}

// The frames of `path` as libpcap hands them out, and whether it stopped on an error.
std::vector<FrameCopy> read_with_libpcap(const std::string& path, bool& failed) {
    std::vector<FrameCopy> frames;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    failed = handle == nullptr;
    if (handle == nullptr) return frames;
    pcap_pkthdr* header = nullptr;
    const u_char* bytes = nullptr;
    int status = 0;
    while ((status = pcap_next_ex(handle, &header, &bytes)) == 1) {
        pw::capture::Frame frame;
        frame.linktype = pcap_datalink(handle);
        frame.data = {bytes, header->caplen};
        frame.wire_length = std::max(header->len, header->caplen);
        // A classic pcap record's seconds are unsigned, which libpcap sign-extends in a file
        // of the host's byte order; FileReader reads them unsigned.
        frame.time_us = static_cast<int64_t>(static_cast<uint32_t>(header->ts.tv_sec)) * 1'000'000 +
                        header->ts.tv_usec;
        frames.push_back(copy_of(frame));
    }
    failed = status == PCAP_ERROR;
    pcap_close(handle);
    return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = "/tmp/protowatch-fuzz-capture-" + std::to_string(getpid());
    FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return 0;
    std::fwrite(data, 1, size, file);
    std::fclose(file);

    pw::pipeline::Pipeline pipeline(pw::pipeline::Settings{}, {});
    pw::capture::FileReader reader;
    std::vector<FrameCopy> frames;
    pw::capture::ReadResult result = reader.read(
        path, &pw::pipeline::Pipeline::supports_link_type, [&](const pw::capture::Frame& frame) {
            frames.push_back(copy_of(frame));
            pipeline.process_frame(frame.linktype, frame.data, frame.wire_length, frame.time_us);
        });
    pipeline.finish();

    if (result.direct) {
        bool libpcap_failed = false;
        std::vector<FrameCopy> reference = read_with_libpcap(path, libpcap_failed);
        if (frames != reference || libpcap_failed == result.complete) {
            std::fprintf(stderr,
                         "PcapFileReader read %zu frames (complete: %d), libpcap %zu "
                         "(failed: %d)\n",
                         frames.size(), result.complete, reference.size(), libpcap_failed);
            std::abort();
        }
    }
    return 0;
}
