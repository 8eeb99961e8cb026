#include <gtest/gtest.h>

#include <string>

#include "flow/tcp_reassembly.h"

namespace pw::flow {
namespace {

// Collects what a reassembler delivers, as one string with the offsets checked.
struct Collector {
    std::string stream;
    bool offsets_contiguous = true;

    StreamReassembler::Deliver deliver() {
        return [this](std::span<const uint8_t> data, uint64_t offset) {
            if (offset != stream.size()) offsets_contiguous = false;
            stream.append(reinterpret_cast<const char*>(data.data()), data.size());
        };
    }
};

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(Reassembly, InOrderSegments) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(999);
    stream.add(1000, bytes("hello "), {}, out.deliver());
    stream.add(1006, bytes("world"), {}, out.deliver());
    EXPECT_EQ(out.stream, "hello world");
    EXPECT_TRUE(out.offsets_contiguous);
}

TEST(Reassembly, OutOfOrderSegmentWaits) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(0);
    stream.add(7, bytes("world"), {}, out.deliver());
    EXPECT_EQ(out.stream, "");
    EXPECT_EQ(stream.buffered_bytes(), 5u);
    stream.add(1, bytes("hello "), {}, out.deliver());
    EXPECT_EQ(out.stream, "hello world");
    EXPECT_EQ(stream.buffered_bytes(), 0u);
}

TEST(Reassembly, RetransmissionIsDropped) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(0);
    stream.add(1, bytes("abc"), {}, out.deliver());
    stream.add(1, bytes("abc"), {}, out.deliver());
    stream.add(4, bytes("def"), {}, out.deliver());
    EXPECT_EQ(out.stream, "abcdef");
}

TEST(Reassembly, OverlapDeliversOnlyNewBytes) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(0);
    stream.add(1, bytes("abcd"), {}, out.deliver());
    stream.add(3, bytes("cdefg"), {}, out.deliver());
    EXPECT_EQ(out.stream, "abcdefg");
}

TEST(Reassembly, BufferedOverlapKeepsFirstCopy) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(0);
    stream.add(4, bytes("DEF"), {}, out.deliver());
    stream.add(3, bytes("cxyzg"), {}, out.deliver());
    stream.add(1, bytes("ab"), {}, out.deliver());
    EXPECT_EQ(out.stream.substr(0, 2), "ab");
    EXPECT_EQ(out.stream.size(), 7u);
    EXPECT_TRUE(out.offsets_contiguous);
}

TEST(Reassembly, MissingHandshakeStartsAtFirstData) {
    StreamReassembler stream;
    Collector out;
    stream.add(500000, bytes("mid"), {}, out.deliver());
    stream.add(500003, bytes("stream"), {}, out.deliver());
    EXPECT_EQ(out.stream, "midstream");
}

TEST(Reassembly, SequenceWrapAround) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(0xFFFFFFFDu);
    stream.add(0xFFFFFFFEu, bytes("abcd"), {}, out.deliver());
    stream.add(2, bytes("ef"), {}, out.deliver());
    EXPECT_EQ(out.stream, "abcdef");
}

TEST(Reassembly, GapSkippedWhenBufferFull) {
    StreamReassembler stream;
    Collector out;
    ReassemblyLimits limits;
    limits.max_buffered_segments = 2;
    stream.set_initial_sequence(0);
    stream.add(1, bytes("aa"), limits, out.deliver());
    // Bytes 3..4 are lost; three later segments overflow the buffer.
    stream.add(5, bytes("cc"), limits, out.deliver());
    stream.add(7, bytes("dd"), limits, out.deliver());
    EXPECT_EQ(out.stream, "aa");
    stream.add(9, bytes("ee"), limits, out.deliver());
    EXPECT_EQ(out.stream, "aaccddee");
    EXPECT_EQ(stream.gaps(), 1u);
    EXPECT_EQ(stream.buffered_bytes(), 0u);
}

TEST(Reassembly, ByteLimitBoundsMemory) {
    StreamReassembler stream;
    Collector out;
    ReassemblyLimits limits;
    limits.max_buffered_bytes = 1000;
    stream.set_initial_sequence(0);
    std::string chunk(100, 'x');
    for (uint32_t i = 0; i < 100; ++i) {
        stream.add(1000 + i * 200, bytes(chunk), limits, out.deliver());
        EXPECT_LE(stream.buffered_bytes(), limits.max_buffered_bytes);
    }
}

TEST(Reassembly, LargeSegmentKeepsByteLimit) {
    // A small buffered segment, then one far larger than the limit after another gap:
    // skipping the first gap alone left the large one buffered over the limit.
    StreamReassembler stream;
    Collector out;
    ReassemblyLimits limits;
    limits.max_buffered_bytes = 64;
    stream.set_initial_sequence(0);
    stream.add(101, bytes(std::string(10, 'a')), limits, out.deliver());
    stream.add(501, bytes(std::string(200, 'b')), limits, out.deliver());
    EXPECT_LE(stream.buffered_bytes(), limits.max_buffered_bytes);
    EXPECT_EQ(out.stream, std::string(10, 'a') + std::string(200, 'b'));
    EXPECT_EQ(stream.gaps(), 2u);
}

// One segment far ahead of the stream, forged or damaged, is dropped: the data in order
// after it still arrives.
TEST(Reassembly, LoneFarSegmentIsDropped) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(999);
    stream.add(1000, bytes("GET / "), {}, out.deliver());
    stream.add(1000 + 16 * 1024 * 1024, bytes("junk"), {}, out.deliver());
    stream.add(1006, bytes("HTTP/1.1"), {}, out.deliver());
    EXPECT_EQ(out.stream, "GET / HTTP/1.1");
    EXPECT_EQ(stream.gaps(), 0u);
}

// After capture loss the stream goes on far ahead: it resumes there once a second segment
// continues the first far one.
TEST(Reassembly, StreamResumesAfterLongGap) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(999);
    stream.add(1000, bytes("start "), {}, out.deliver());
    const uint32_t far = 1000 + 16 * 1024 * 1024;
    stream.add(far, bytes("lost "), {}, out.deliver());
    stream.add(far + 5, bytes("resumed "), {}, out.deliver());
    stream.add(far + 13, bytes("on"), {}, out.deliver());
    EXPECT_EQ(out.stream, "start resumed on");
    EXPECT_EQ(stream.gaps(), 1u);
    EXPECT_TRUE(out.offsets_contiguous);
}

TEST(Reassembly, FlushDeliversBufferedData) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(0);
    stream.add(10, bytes("late"), {}, out.deliver());
    stream.flush(out.deliver());
    EXPECT_EQ(out.stream, "late");
    EXPECT_EQ(stream.gaps(), 1u);
}

TEST(Reassembly, StopIgnoresLaterData) {
    StreamReassembler stream;
    Collector out;
    stream.set_initial_sequence(0);
    stream.stop();
    stream.add(1, bytes("abc"), {}, out.deliver());
    EXPECT_EQ(out.stream, "");
    EXPECT_TRUE(stream.stopped());
}

}  // namespace
}  // namespace pw::flow
