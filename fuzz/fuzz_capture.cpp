// Reads the input as a capture file (pcap or pcapng) through the reader and the pipeline.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "capture/file_reader.h"
#include "pipeline/pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const std::string path = "/tmp/protowatch-fuzz-capture-" + std::to_string(getpid());
    FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return 0;
    std::fwrite(data, 1, size, file);
    std::fclose(file);

    pw::pipeline::Pipeline pipeline(pw::pipeline::Settings{}, {});
    pw::capture::FileReader reader;
    reader.read(path, &pw::pipeline::Pipeline::supports_link_type,
                [&](const pw::capture::Frame& frame) {
                    pipeline.process_frame(frame.linktype, frame.data, frame.wire_length,
                                           frame.time_us);
                });
    pipeline.finish();
    return 0;
}
