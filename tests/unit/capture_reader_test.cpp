#include <gtest/gtest.h>
#include <pcap/dlt.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "capture/file_reader.h"

namespace pw::capture {
namespace {

namespace fs = std::filesystem;

void put32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v));
    out.push_back(static_cast<uint8_t>(v >> 8));
}

// Appends a little-endian pcapng block of `type` around `body` (padded to 4 bytes).
void block(std::vector<uint8_t>& out, uint32_t type, std::vector<uint8_t> body) {
    while (body.size() % 4 != 0) body.push_back(0);
    auto length = static_cast<uint32_t>(body.size() + 12);
    put32(out, type);
    put32(out, length);
    out.insert(out.end(), body.begin(), body.end());
    put32(out, length);
}

std::vector<uint8_t> section_header(uint16_t major_version = 1) {
    std::vector<uint8_t> body;
    put32(body, 0x1A2B3C4D);
    put16(body, major_version);
    put16(body, 0);
    put32(body, 0xFFFFFFFF);
    put32(body, 0xFFFFFFFF);
    return body;
}

std::vector<uint8_t> interface(uint16_t linktype, uint32_t snaplen) {
    std::vector<uint8_t> body;
    put16(body, linktype);
    put16(body, 0);
    put32(body, snaplen);
    return body;
}

std::vector<uint8_t> packet(uint32_t interface_id, uint64_t micros, std::vector<uint8_t> data) {
    std::vector<uint8_t> body;
    put32(body, interface_id);
    put32(body, static_cast<uint32_t>(micros >> 32));
    put32(body, static_cast<uint32_t>(micros));
    put32(body, static_cast<uint32_t>(data.size()));
    put32(body, static_cast<uint32_t>(data.size()));
    body.insert(body.end(), data.begin(), data.end());
    return body;
}

struct TempFile {
    fs::path path;
    explicit TempFile(const std::vector<uint8_t>& bytes)
        : path(fs::temp_directory_path() /
               ("protowatch-capture-" + std::to_string(getpid()) + "-" +
                std::to_string(reinterpret_cast<uintptr_t>(this)) + ".pcapng")) {
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
    }
    ~TempFile() { fs::remove(path); }
};

std::vector<Frame> read_all(const std::string& path, ReadResult& result) {
    std::vector<Frame> frames;
    FileReader reader;
    result = reader.read(
        path, [](int) { return true; }, [&](const Frame& frame) { frames.push_back(frame); });
    return frames;
}

TEST(CaptureReader, PcapngInterfacesOfTwoLinkTypes) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));    // Ethernet
    block(file, 1, interface(101, 65535));  // raw IP
    block(file, 6, packet(0, 1'000'000, std::vector<uint8_t>(60, 0xAA)));
    block(file, 6, packet(1, 2'000'000, std::vector<uint8_t>(40, 0x45)));
    block(file, 6, packet(0, 3'000'000, std::vector<uint8_t>(60, 0xBB)));
    TempFile capture(file);

    ReadResult result;
    std::vector<Frame> frames = read_all(capture.path, result);
    EXPECT_TRUE(result.complete) << result.error;
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[0].linktype, DLT_EN10MB);
    EXPECT_EQ(frames[1].linktype, DLT_RAW);  // LINKTYPE_RAW in the file, as libpcap gives it
    EXPECT_EQ(frames[2].linktype, DLT_EN10MB);
    EXPECT_EQ(frames[1].time_us, 2'000'000);
    EXPECT_EQ(result.frames, 3u);
}

// The same block in big-endian byte order: each 32-bit and 16-bit field of `fields` swapped
// (a field list of sizes, the rest of the body kept as it is).
std::vector<uint8_t> big_endian(std::vector<uint8_t> body, const std::vector<int>& fields) {
    size_t at = 0;
    for (int size : fields) {
        std::reverse(body.begin() + static_cast<long>(at),
                     body.begin() + static_cast<long>(at) + size);
        at += static_cast<size_t>(size);
    }
    return body;
}

void big_endian_block(std::vector<uint8_t>& out, uint32_t type, std::vector<uint8_t> body) {
    while (body.size() % 4 != 0) body.push_back(0);
    auto length = static_cast<uint32_t>(body.size() + 12);
    std::vector<uint8_t> header;
    put32(header, type);
    put32(header, length);
    out.insert(out.end(), header.rbegin() + 4, header.rend());
    out.insert(out.end(), header.rbegin(), header.rbegin() + 4);
    out.insert(out.end(), body.begin(), body.end());
    out.insert(out.end(), header.rbegin(), header.rbegin() + 4);
}

// pcapng lets each section have its own byte order; libpcap 1.10 stops at the change.
TEST(CaptureReader, PcapngSectionsOfBothByteOrders) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));
    block(file, 6, packet(0, 1'000'000, std::vector<uint8_t>(60, 0xAA)));
    big_endian_block(file, 0x0A0D0D0A, big_endian(section_header(), {4, 2, 2, 4, 4}));
    big_endian_block(file, 1, big_endian(interface(101, 65535), {2, 2, 4}));
    big_endian_block(
        file, 6, big_endian(packet(0, 2'000'000, std::vector<uint8_t>(40, 0x45)), {4, 4, 4, 4, 4}));
    TempFile capture(file);

    ReadResult result;
    std::vector<Frame> frames = read_all(capture.path, result);
    EXPECT_TRUE(result.complete) << result.error;
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].linktype, DLT_EN10MB);
    EXPECT_EQ(frames[1].linktype, DLT_RAW);
    EXPECT_EQ(frames[1].time_us, 2'000'000);
    EXPECT_EQ(frames[1].data.size(), 40u);
}

// An IPv4 TCP packet from 10.0.0.`source` to 10.0.0.9, with `link_header` before it.
std::vector<uint8_t> tcp_packet(uint8_t source, std::vector<uint8_t> link_header = {}) {
    std::vector<uint8_t> bytes = std::move(link_header);
    const uint8_t ip[20] = {0x45, 0, 0, 40, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, source, 10, 0, 0, 9};
    const uint8_t tcp[20] = {0x9C, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xFF, 0xFF};
    bytes.insert(bytes.end(), ip, ip + sizeof ip);
    bytes.insert(bytes.end(), tcp, tcp + sizeof tcp);
    return bytes;
}

std::vector<uint8_t> ethernet_header() {
    std::vector<uint8_t> header(12, 0x02);
    header.push_back(0x08);
    header.push_back(0x00);
    return header;
}

// The frames read from `bytes` written into a pipe, as from standard input or `<(...)`,
// without their bytes: those live in a buffer that the next frame reuses.
std::vector<Frame> read_from_pipe(const std::vector<uint8_t>& bytes, ReadResult& result) {
    int ends[2];
    EXPECT_EQ(pipe(ends), 0);
    std::thread writer([&] {
        size_t done = 0;
        while (done < bytes.size()) {
            ssize_t wrote = write(ends[1], bytes.data() + done, bytes.size() - done);
            if (wrote <= 0) break;
            done += static_cast<size_t>(wrote);
        }
        close(ends[1]);
    });
    std::vector<Frame> frames;
    FileReader reader;
    result = reader.read(
        "/proc/self/fd/" + std::to_string(ends[0]), [](int) { return true; },
        [&](const Frame& frame) {
            frames.push_back(frame);
            frames.back().data = {};
        });
    writer.join();
    close(ends[0]);
    return frames;
}

// A pipe can be read only once: a pcapng file whose interfaces differ, which libpcap stops
// at, is read whole from it all the same.
TEST(CaptureReader, PcapngFromPipeReadWhole) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));
    block(file, 1, interface(101, 65535));
    block(file, 6, packet(0, 1'000'000, std::vector<uint8_t>(60, 0xAA)));
    block(file, 6, packet(1, 2'000'000, std::vector<uint8_t>(40, 0x45)));
    big_endian_block(file, 0x0A0D0D0A, big_endian(section_header(), {4, 2, 2, 4, 4}));
    big_endian_block(file, 1, big_endian(interface(1, 65535), {2, 2, 4}));
    big_endian_block(
        file, 6, big_endian(packet(0, 3'000'000, std::vector<uint8_t>(50, 0xBB)), {4, 4, 4, 4, 4}));

    ReadResult result;
    std::vector<Frame> frames = read_from_pipe(file, result);
    EXPECT_TRUE(result.complete) << result.error;
    ASSERT_EQ(frames.size(), 3u);
    EXPECT_EQ(frames[1].linktype, DLT_RAW);
    EXPECT_EQ(frames[2].time_us, 3'000'000);
    EXPECT_EQ(frames[2].wire_length, 50u);
}

// A filter applies to each interface in its own link type, raw IP included.
TEST(CaptureReader, FilterMatchesEveryInterface) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));
    block(file, 1, interface(101, 65535));
    block(file, 6, packet(0, 1'000'000, tcp_packet(1, ethernet_header())));
    block(file, 6, packet(1, 2'000'000, tcp_packet(1)));
    TempFile capture(file);

    std::vector<Frame> frames;
    FileReader reader("tcp");
    ReadResult result = reader.read(
        capture.path, [](int) { return true; },
        [&](const Frame& frame) { frames.push_back(frame); });
    EXPECT_TRUE(result.complete) << result.error;
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[1].linktype, DLT_RAW);
}

// A filter applies to the sections of both byte orders, and passes each frame once.
TEST(CaptureReader, FilterRepeatsNoFrame) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));
    block(file, 6, packet(0, 1'000'000, tcp_packet(1, ethernet_header())));
    block(file, 6, packet(0, 2'000'000, tcp_packet(2, ethernet_header())));
    big_endian_block(file, 0x0A0D0D0A, big_endian(section_header(), {4, 2, 2, 4, 4}));
    big_endian_block(file, 1, big_endian(interface(1, 65535), {2, 2, 4}));
    big_endian_block(
        file, 6,
        big_endian(packet(0, 3'000'000, tcp_packet(2, ethernet_header())), {4, 4, 4, 4, 4}));
    TempFile capture(file);

    std::vector<int64_t> times;
    FileReader reader("src host 10.0.0.2");
    ReadResult result = reader.read(
        capture.path, [](int) { return true; },
        [&](const Frame& frame) { times.push_back(frame.time_us); });
    EXPECT_TRUE(result.complete) << result.error;
    EXPECT_EQ(times, (std::vector<int64_t>{2'000'000, 3'000'000}));
}

// A classic pcap file with one record at `seconds`, in little-endian byte order.
std::vector<uint8_t> classic_pcap(uint32_t seconds) {
    std::vector<uint8_t> file;
    put32(file, 0xA1B2C3D4);
    put16(file, 2);
    put16(file, 4);
    put32(file, 0);
    put32(file, 0);
    put32(file, 65535);
    put32(file, 1);  // Ethernet
    const std::vector<uint8_t> frame = tcp_packet(1, ethernet_header());
    put32(file, seconds);
    put32(file, 500);
    put32(file, static_cast<uint32_t>(frame.size()));
    put32(file, static_cast<uint32_t>(frame.size()));
    file.insert(file.end(), frame.begin(), frame.end());
    return file;
}

// Record seconds are unsigned: 2040 stays 2040 whether PcapFileReader reads the file or
// libpcap reads it from a pipe.
TEST(CaptureReader, TimesAfter2038StayUnsigned) {
    constexpr uint32_t kYear2040 = 2'216'000'000;
    const std::vector<uint8_t> file = classic_pcap(kYear2040);
    constexpr int64_t kExpected = int64_t{kYear2040} * 1'000'000 + 500;

    TempFile capture(file);
    ReadResult direct_result;
    std::vector<Frame> direct = read_all(capture.path, direct_result);
    EXPECT_TRUE(direct_result.direct);
    ASSERT_EQ(direct.size(), 1u);
    EXPECT_EQ(direct[0].time_us, kExpected);

    ReadResult piped_result;
    std::vector<Frame> piped = read_from_pipe(file, piped_result);
    EXPECT_TRUE(piped_result.complete) << piped_result.error;
    ASSERT_EQ(piped.size(), 1u);
    EXPECT_EQ(piped[0].time_us, kExpected);
}

// `bytes` as one gzip member, as gzip(1) writes them.
std::vector<uint8_t> gzipped(const std::vector<uint8_t>& bytes) {
    z_stream stream{};
    EXPECT_EQ(
        deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
        Z_OK);
    std::vector<uint8_t> out(deflateBound(&stream, bytes.size()) + 32);
    stream.next_in = const_cast<Bytef*>(bytes.data());
    stream.avail_in = static_cast<uInt>(bytes.size());
    stream.next_out = out.data();
    stream.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

// A compressed capture, classic or pcapng, reads as the capture itself, from a file or a
// pipe. Cut short it is truncated, and compressed data that is invalid is named as such.
TEST(CaptureReader, GzipCapturesDecompressed) {
    std::vector<uint8_t> pcapng;
    block(pcapng, 0x0A0D0D0A, section_header());
    block(pcapng, 1, interface(1, 65535));
    block(pcapng, 6, packet(0, 1'000'000, tcp_packet(1, ethernet_header())));
    block(pcapng, 6, packet(0, 2'000'000, tcp_packet(2, ethernet_header())));
    for (const std::vector<uint8_t>& capture : {classic_pcap(1'700'000'000), pcapng}) {
        const std::vector<uint8_t> compressed = gzipped(capture);
        TempFile file(compressed);
        ReadResult from_file;
        const size_t frames = capture == pcapng ? 2 : 1;
        EXPECT_EQ(read_all(file.path, from_file).size(), frames);
        EXPECT_TRUE(from_file.complete) << from_file.error;
        ReadResult from_pipe;
        EXPECT_EQ(read_from_pipe(compressed, from_pipe).size(), frames);
        EXPECT_TRUE(from_pipe.complete) << from_pipe.error;
    }

    std::vector<uint8_t> cut = gzipped(pcapng);
    cut.resize(cut.size() - 4);  // the member's length field, after all of the data
    TempFile truncated(cut);
    ReadResult truncated_result;
    EXPECT_EQ(read_all(truncated.path, truncated_result).size(), 2u);
    EXPECT_TRUE(truncated_result.opened);
    EXPECT_FALSE(truncated_result.complete);
    EXPECT_NE(truncated_result.error.find("gzip data is truncated"), std::string::npos)
        << truncated_result.error;

    // A wrong checksum at the end fails the read, after the frames before it.
    std::vector<uint8_t> checksum = gzipped(classic_pcap(1'700'000'000));
    checksum[checksum.size() - 8] ^= 0xFF;
    TempFile wrong(checksum);
    ReadResult wrong_result;
    EXPECT_EQ(read_all(wrong.path, wrong_result).size(), 1u);
    EXPECT_FALSE(wrong_result.complete);
    EXPECT_NE(wrong_result.error.find("incorrect data check"), std::string::npos)
        << wrong_result.error;

    std::vector<uint8_t> invalid = {0x1F, 0x8B, 'n', 'o', 't', ' ', 'g', 'z', 'i', 'p'};
    TempFile damaged(invalid);
    ReadResult damaged_result;
    read_all(damaged.path, damaged_result);
    EXPECT_FALSE(damaged_result.opened);
    EXPECT_NE(damaged_result.error.find("gzip data is invalid"), std::string::npos)
        << damaged_result.error;
}

// libpcap compiles the AF_ value of a DLT_NULL header as any BSD's (macOS writes 30 for
// IPv6) when it opens a file. A compressed capture, read as a stream, is filtered alike,
// and a filter that the first link type rejects is invalid for it as for a file.
TEST(CaptureReader, FilterOnLoopbackFramesOfStreams) {
    std::vector<uint8_t> frame = {30, 0, 0, 0, 0x60, 0, 0, 0, 0, 0, 59, 64};
    frame.resize(4 + 40, 0x01);
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(0, 65535));
    block(file, 6, packet(0, 1'000'000, frame));
    for (const std::vector<uint8_t>& capture : {file, gzipped(file)}) {
        TempFile input(capture);
        std::vector<Frame> frames;
        FileReader reader("ip6");
        ReadResult result = reader.read(
            input.path, [](int) { return true; },
            [&](const Frame& read) { frames.push_back(read); });
        EXPECT_TRUE(result.complete) << result.error;
        EXPECT_EQ(frames.size(), 1u);
    }
    TempFile compressed(gzipped(file));
    FileReader invalid("tcp port");
    EXPECT_THROW(invalid.read(
                     compressed.path, [](int) { return true; }, [](const Frame&) {}),
                 std::invalid_argument);
}

TEST(CaptureReader, TruncatedFileKeepsEarlierFrames) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));
    block(file, 6, packet(0, 1'000'000, std::vector<uint8_t>(60, 0xAA)));
    block(file, 6, packet(0, 2'000'000, std::vector<uint8_t>(60, 0xAA)));
    file.resize(file.size() - 30);
    TempFile capture(file);

    ReadResult result;
    std::vector<Frame> frames = read_all(capture.path, result);
    EXPECT_TRUE(result.opened);
    EXPECT_FALSE(result.complete);
    EXPECT_EQ(frames.size(), 1u);
    EXPECT_NE(result.error.find(capture.path.string()), std::string::npos) << result.error;
}

// libpcap rejects a pcapng file without an interface; it is an empty capture, from a
// file as from a pipe.
TEST(CaptureReader, PcapngWithoutInterfacesIsEmpty) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    TempFile capture(file);
    ReadResult result;
    EXPECT_TRUE(read_all(capture.path, result).empty());
    EXPECT_TRUE(result.opened);
    EXPECT_TRUE(result.complete) << result.error;
    EXPECT_TRUE(read_from_pipe(file, result).empty());
    EXPECT_TRUE(result.complete) << result.error;
}

// A section of another major version may have another layout: reading stops there.
TEST(CaptureReader, PcapngSectionOfVersion2Stops) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));
    block(file, 6, packet(0, 1'000'000, std::vector<uint8_t>(60, 0xAA)));
    block(file, 0x0A0D0D0A, section_header(2));
    block(file, 1, interface(1, 65535));
    block(file, 6, packet(0, 2'000'000, std::vector<uint8_t>(60, 0xBB)));
    TempFile capture(file);
    ReadResult result;
    EXPECT_EQ(read_all(capture.path, result).size(), 1u);
    EXPECT_FALSE(result.complete);
    EXPECT_NE(result.error.find("pcapng version 2.0"), std::string::npos) << result.error;
    EXPECT_EQ(read_from_pipe(file, result).size(), 1u);
    EXPECT_NE(result.error.find("pcapng version 2.0"), std::string::npos) << result.error;
}

// An interface block with the if_tsresol option (code 9) set to `value`.
std::vector<uint8_t> interface_with_resolution(uint8_t value) {
    std::vector<uint8_t> body = interface(1, 65535);
    put16(body, 9);
    put16(body, 1);
    body.insert(body.end(), {value, 0, 0, 0});
    put32(body, 0);  // opt_endofopt
    return body;
}

TEST(CaptureReader, PcapngTimestampResolutions) {
    // Nanoseconds (10^-9 s) and 2^-20 s are read; resolutions that leave a 64-bit timestamp
    // less than two seconds stop the read.
    for (auto [value, ticks_per_second] :
         {std::pair<uint8_t, uint64_t>{9, 1'000'000'000}, {0x80 | 20, 1u << 20}}) {
        std::vector<uint8_t> file;
        block(file, 0x0A0D0D0A, section_header());
        block(file, 1, interface_with_resolution(value));
        block(file, 6, packet(0, 3 * ticks_per_second, std::vector<uint8_t>(60, 0xAA)));
        TempFile capture(file);
        ReadResult result;
        std::vector<Frame> frames = read_all(capture.path, result);
        EXPECT_TRUE(result.complete) << result.error;
        ASSERT_EQ(frames.size(), 1u);
        EXPECT_EQ(frames[0].time_us, 3'000'000);
    }
    for (uint8_t value : {uint8_t{20}, uint8_t{127}, uint8_t{0x80 | 64}, uint8_t{0xFF}}) {
        std::vector<uint8_t> file;
        block(file, 0x0A0D0D0A, section_header());
        block(file, 1, interface_with_resolution(value));
        block(file, 6, packet(0, 3'000'000, std::vector<uint8_t>(60, 0xAA)));
        TempFile capture(file);
        ReadResult result;
        EXPECT_TRUE(read_all(capture.path, result).empty()) << int{value};
        EXPECT_FALSE(result.complete);
        EXPECT_NE(result.error.find("timestamp resolution (if_tsresol)"), std::string::npos)
            << result.error;
    }
}

TEST(CaptureReader, NotACaptureNamesFile) {
    std::string text = "this is not a capture file at all, just text\n";
    TempFile capture(std::vector<uint8_t>(text.begin(), text.end()));
    ReadResult result;
    read_all(capture.path, result);
    EXPECT_FALSE(result.opened);
    EXPECT_NE(result.error.find(capture.path.string()), std::string::npos) << result.error;
}

TEST(CaptureReader, InvalidFilterRejected) {
    std::vector<uint8_t> file;
    block(file, 0x0A0D0D0A, section_header());
    block(file, 1, interface(1, 65535));
    TempFile capture(file);
    FileReader reader("tcp port and nonsense ((");
    EXPECT_THROW(reader.read(
                     capture.path, [](int) { return true; }, [](const Frame&) {}),
                 std::invalid_argument);
}

}  // namespace
}  // namespace pw::capture
