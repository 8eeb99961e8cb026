#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
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

std::vector<uint8_t> section_header() {
    std::vector<uint8_t> body;
    put32(body, 0x1A2B3C4D);
    put16(body, 1);
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
    result = reader.read(path, [](int) { return true; },
                         [&](const Frame& frame) { frames.push_back(frame); });
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
    EXPECT_EQ(frames[0].linktype, 1);
    EXPECT_EQ(frames[1].linktype, 101);
    EXPECT_EQ(frames[2].linktype, 1);
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
    big_endian_block(file, 6, big_endian(packet(0, 2'000'000, std::vector<uint8_t>(40, 0x45)),
                                         {4, 4, 4, 4, 4}));
    TempFile capture(file);

    ReadResult result;
    std::vector<Frame> frames = read_all(capture.path, result);
    EXPECT_TRUE(result.complete) << result.error;
    ASSERT_EQ(frames.size(), 2u);
    EXPECT_EQ(frames[0].linktype, 1);
    EXPECT_EQ(frames[1].linktype, 101);
    EXPECT_EQ(frames[1].time_us, 2'000'000);
    EXPECT_EQ(frames[1].data.size(), 40u);
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
    EXPECT_THROW(reader.read(capture.path, [](int) { return true; }, [](const Frame&) {}),
                 std::invalid_argument);
}

}  // namespace
}  // namespace pw::capture
