// Runs the whole pipeline (decoding, flows, reassembly, every detector) on a sequence of
// raw IPv4/IPv6 frames: each is a 2-byte big-endian length followed by that many bytes.

#include <pcap/dlt.h>

#include <cstddef>
#include <cstdint>

#include "pipeline/pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A small memory bound, so that inputs with many flows, fragments or out-of-order
    // segments run the eviction paths too.
    pw::pipeline::Settings settings;
    settings.max_memory_bytes = 64 * 1024;
    pw::pipeline::Pipeline pipeline(settings, {});
    int64_t time_us = 1'000'000;
    size_t at = 0;
    while (at + 2 <= size) {
        size_t length = static_cast<size_t>(data[at]) << 8 | data[at + 1];
        at += 2;
        if (length > size - at) length = size - at;
        std::span<const uint8_t> frame(data + at, length);
        pipeline.process_frame(DLT_RAW, frame, static_cast<uint32_t>(length), time_us);
        at += length;
        time_us += 1000;
    }
    pipeline.finish();
    return 0;
}
