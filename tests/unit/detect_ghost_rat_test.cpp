// Gh0st RAT detection, with messages framed as a flag, the total length, the uncompressed
// length and a zlib stream.

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

#include "detect/ghost_rat.h"

namespace pw::detect {
namespace {

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string le32(uint32_t value) {
    std::string out;
    for (int i = 0; i < 4; ++i) out += static_cast<char>(value >> (8 * i) & 0xFF);
    return out;
}

std::string deflate(const std::string& plain) {
    uLongf size = compressBound(plain.size());
    std::string out(size, '\0');
    compress2(reinterpret_cast<Bytef*>(out.data()), &size,
              reinterpret_cast<const Bytef*>(plain.data()), plain.size(), Z_BEST_COMPRESSION);
    out.resize(size);
    return out;
}

std::string frame(const std::string& flag, const std::string& plain) {
    std::string stream = deflate(plain);
    uint32_t total = static_cast<uint32_t>(flag.size() + 8 + stream.size());
    return flag + le32(total) + le32(static_cast<uint32_t>(plain.size())) + stream;
}

// Text that compresses to a fraction of its size, so that a long message still spans
// several segments.
std::string varied_text(size_t size) {
    std::mt19937 random(5);
    std::string text;
    while (text.size() < size) text += "C:\\Windows\\system32 " + std::to_string(random() % 9973);
    text.resize(size);
    return text;
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_ghost_rat_detector();

    Flow() : session(Transport::kTcp, address(140), 49159, address(1), 80) {}

    static decode::IpAddress address(uint8_t last) {
        const uint8_t raw[4] = {192, 168, 32, last};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        return detector->inspect(session, Segment{bytes(data), from_initiator, 0, nullptr});
    }
};

TEST(GhostFrame, WholeMessages) {
    for (const std::string flag : {"Gh0st", "Spidern", "LUCKK", "abc", "0123456789ABCDEF"}) {
        std::string message = frame(flag, "\x66login data");
        std::optional<GhostFrame> parsed = parse_ghost_frame(bytes(message));
        ASSERT_TRUE(parsed.has_value()) << flag;
        EXPECT_EQ(parsed->flag_length, flag.size());
        EXPECT_EQ(parsed->total_length, message.size());
        EXPECT_EQ(parsed->plain_length, 11u);
        EXPECT_TRUE(parsed->whole);
    }
}

TEST(GhostFrame, MessageCutBySegment) {
    std::string message = frame("Gh0st", varied_text(20000));
    ASSERT_GT(message.size(), 1000u);
    std::optional<GhostFrame> parsed = parse_ghost_frame(bytes(message.substr(0, 600)));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_FALSE(parsed->whole);
    EXPECT_EQ(parsed->total_length, message.size());
}

TEST(GhostFrame, NextMessageInSegment) {
    std::string first = frame("Gh0st", "first");
    std::optional<GhostFrame> parsed = parse_ghost_frame(bytes(first + frame("Gh0st", "x")));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(parsed->total_length, first.size());
    EXPECT_TRUE(parsed->whole);
}

TEST(GhostFrame, InconsistentMessages) {
    std::string message = frame("Gh0st", "payload bytes");
    std::string total = message;
    total[5] += 1;  // total length one more than the message
    EXPECT_FALSE(parse_ghost_frame(bytes(total)).has_value());
    std::string plain = message;
    plain[9] += 1;  // uncompressed length one more than the stream gives
    EXPECT_FALSE(parse_ghost_frame(bytes(plain)).has_value());
    std::string check = message;
    check[14] ^= 0x01;  // FCHECK no longer makes the header a multiple of 31
    EXPECT_FALSE(parse_ghost_frame(bytes(check)).has_value());
    std::string corrupt = message;
    corrupt[corrupt.size() - 2] ^= 0x55;  // the Adler-32 no longer matches
    EXPECT_FALSE(parse_ghost_frame(bytes(corrupt)).has_value());
    std::string flag = message;
    flag[2] = '\x01';
    EXPECT_FALSE(parse_ghost_frame(bytes(flag)).has_value());
    EXPECT_FALSE(parse_ghost_frame(bytes(message.substr(0, 12))).has_value());
}

TEST(GhostFrame, InflateIsBounded) {
    // Ten megabytes of zeros compress to about ten kilobytes: only a bounded part inflates.
    std::string message = frame("Gh0st", std::string(10 << 20, '\0'));
    std::optional<GhostFrame> parsed = parse_ghost_frame(bytes(message));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_FALSE(parsed->whole);
    EXPECT_EQ(parsed->plain_length, 10u << 20);
}

TEST(GhostDetector, LabelsFramingAndPayload) {
    Flow flow;
    EXPECT_EQ(flow.send(true, frame("Gh0st", "\x66hello")), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::GHOST_RAT_HEADER));
    EXPECT_TRUE(flow.session.has(ProtocolId::GHOST_RAT_DATA));
}

TEST(GhostDetector, OtherDirectionFramed) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "GET / HTTP/1.1\r\n\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, frame("Gh0st", "\x01")), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::GHOST_RAT_HEADER));
}

TEST(GhostDetector, UnframedFlow) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "GET / HTTP/1.1\r\n\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "HTTP/1.1 200 OK\r\n\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::GHOST_RAT_HEADER));
}

TEST(GhostFrame, RandomBytesNeverCrash) {
    std::mt19937 random(13);
    std::string base = frame("Gh0st", varied_text(3000));
    for (int round = 0; round < 3000; ++round) {
        std::string message = base;
        message[13 + random() % (message.size() - 13)] = static_cast<char>(random());
        message.resize(13 + random() % (message.size() - 12));
        parse_ghost_frame(bytes(message));
    }
}

}  // namespace
}  // namespace pw::detect
