// SMB detection (SMB, SMB2, SMB3_ENCRYPTED, SMB_TREE, SMB_PIPEDATA_UNKNOWN, NBTSS, MSRPC in
// pipes, file types of transfers), with messages built from [MS-SMB2], [MS-CIFS] and RFC 1002.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_smb_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string le16(uint16_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }
std::string le32(uint32_t v) { return le16(v & 0xFFFF) + le16(v >> 16); }
std::string le64(uint64_t v) { return le32(v & 0xFFFFFFFF) + le32(v >> 32); }

// A session service message (or SMB direct TCP frame) around `payload`.
std::string frame(const std::string& payload) {
    size_t n = payload.size();
    return "\x00"s + static_cast<char>(n >> 16) + static_cast<char>(n >> 8) + static_cast<char>(n) +
           payload;
}

constexpr uint32_t kResponse = 1;

std::string smb2(uint16_t cmd, uint32_t flags, uint64_t message_id, uint32_t tree,
                 const std::string& body) {
    std::string h = "\xfeSMB"s + le16(64) + le16(1) + le32(0) + le16(cmd) + le16(1) + le32(flags);
    h += le32(0) + le64(message_id) + le32(0xFEFF) + le32(tree) + le64(0x4000000001ULL);
    return h + std::string(16, '\0') + body;
}

const std::string kFile = "\x11\x11\x11\x11\x11\x11\x11\x11\x22\x22\x22\x22\x22\x22\x22\x22"s;
const std::string kPipe = "\x33\x33\x33\x33\x33\x33\x33\x33\x44\x44\x44\x44\x44\x44\x44\x44"s;

std::string tree_connect_response(uint64_t id, uint32_t tree, uint8_t share_type) {
    std::string body =
        le16(16) + static_cast<char>(share_type) + "\x00"s + le32(0) + le32(0) + le32(0x1F01FF);
    return smb2(3, kResponse, id, tree, body);
}

std::string write_request(uint64_t id, uint32_t tree, const std::string& file,
                          const std::string& data, uint64_t offset = 0) {
    std::string body = le16(49) + le16(64 + 48) + le32(data.size()) + le64(offset) + file;
    body += le32(0) + le32(0) + le16(0) + le16(0) + le32(0);
    return smb2(9, 0, id, tree, body + data);
}

std::string read_request(uint64_t id, uint32_t tree, const std::string& file, uint64_t offset) {
    std::string body = le16(49) + "\x50\x00"s + le32(65536) + le64(offset) + file;
    body += le32(1) + le32(0) + le32(0) + le16(0) + le16(0) + "\x00"s;
    return smb2(8, 0, id, tree, body);
}

std::string read_response(uint64_t id, uint32_t tree, const std::string& data) {
    std::string body = le16(17) + "\x50\x00"s + le32(data.size()) + le32(0) + le32(0);
    return smb2(8, kResponse, id, tree, body + data);
}

std::string png_file() {
    std::string png = "\x89PNG\r\n\x1a\n"s + "\x00\x00\x00\x0dIHDR"s;
    png += "\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"s + "\x1f\xf3\xff\x61"s;
    return png + std::string(3000, '\0');
}

std::string dce_bind() {
    std::string body = le16(4280) + le16(4280) + le32(0) + "\x00\x00\x00\x00"s;
    return "\x05\x00\x0b\x03\x10\x00\x00\x00"s + le16(16 + body.size()) + le16(0) + le32(2) + body;
}

std::string smb1(uint8_t cmd, bool reply, uint16_t tid, const std::string& words_and_bytes) {
    std::string h = "\xffSMB"s + static_cast<char>(cmd) + le32(0) +
                    static_cast<char>(reply ? 0x98 : 0x18) + le16(0xC807);
    h += le16(0) + std::string(8, '\0') + le16(0) + le16(tid) + le16(0xFEFF) + le16(0x0800) +
         le16(1);
    return h + words_and_bytes;
}

std::string encoded_name(const std::string& name) {
    std::string padded = name + std::string(16 - name.size(), ' ');
    std::string out = "\x20"s;
    for (char c : padded) {
        out += static_cast<char>('A' + ((c >> 4) & 0x0F));
        out += static_cast<char>('A' + (c & 0x0F));
    }
    return out + '\0';
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_smb_detector();
    Verdict last = Verdict::kContinue;
    uint64_t sent[2] = {0, 0};
    int skipped = 0;  // segments not handed over because the detector asked to skip them

    explicit Flow(uint16_t port = 445)
        : session(Transport::kTcp, address(10), 49152, address(20), port) {}

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        uint64_t& offset = sent[from_initiator ? 0 : 1];
        Segment segment{bytes(data), from_initiator, offset, &packet};
        offset += data.size();
        // As the pipeline does: segments inside a skip are not handed over.
        if (session.skips(detector->slot, from_initiator, offset)) {
            ++skipped;
            return last;
        }
        last = detector->inspect(session, segment);
        return last;
    }
    // Sends `data` in pieces of `size` bytes, as a stream cut into segments.
    void send_split(bool from_initiator, const std::string& data, size_t size) {
        for (size_t at = 0; at < data.size(); at += size) {
            send(from_initiator, data.substr(at, size));
        }
    }
    void finish() {
        if (last == Verdict::kContinue) detector->finish(session);
    }
};

TEST(SmbDetector, Smb2OverDirectTcp) {
    Flow flow;
    EXPECT_EQ(flow.send(true, frame(smb2(0, 0, 0, 0, le16(36) + std::string(34, '\0')))),
              Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB2));
    EXPECT_FALSE(flow.session.has(ProtocolId::NBTSS));
    EXPECT_FALSE(flow.session.has(ProtocolId::SMB));
}

TEST(SmbDetector, NetbiosSessionThenSmb1) {
    Flow flow(139);
    std::string names = encoded_name("FILESERVER") + encoded_name("CLIENT");
    std::string request = "\x81\x00\x00"s + static_cast<char>(names.size()) + names;
    EXPECT_EQ(flow.send(true, request), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::NBTSS));
    EXPECT_EQ(flow.send(false, "\x82\x00\x00\x00"s), Verdict::kContinue);
    std::string negotiate = smb1(0x72, false, 0, "\x00"s + le16(12) + "\x02NT LM 0.12\0"s);
    EXPECT_EQ(flow.send(true, frame(negotiate)), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB));
}

TEST(SmbDetector, Smb1TreeConnectInAnAndxChain) {
    // SESSION_SETUP_ANDX (wc 13) chained to TREE_CONNECT_ANDX (wc 4).
    std::string tree_words = "\x04\xff\x00"s + le16(0) + le16(0) + le16(1);
    std::string tree_bytes = "\x00\\\\SERVER\\IPC$\0?????\0"s;
    std::string setup_words = "\x0d\x75\x00"s;
    size_t setup_size = 1 + 13 * 2 + 2;
    setup_words += le16(static_cast<uint16_t>(32 + setup_size)) + std::string(22, '\0');
    std::string message = setup_words + le16(0) + tree_words + le16(tree_bytes.size()) + tree_bytes;
    Flow flow;
    flow.send(true, frame(smb1(0x73, false, 0, message)));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB_TREE));
}

TEST(SmbDetector, PipeDataDceRpcOrUnknown) {
    Flow flow;
    flow.send(true, frame(smb2(3, 0, 1, 0, le16(9) + std::string(7, '\0'))));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB_TREE));
    flow.send(false, frame(tree_connect_response(1, 5, 2)));
    flow.send(true, frame(write_request(2, 5, kPipe, dce_bind())));
    EXPECT_TRUE(flow.session.has(ProtocolId::MSRPC));
    EXPECT_FALSE(flow.session.has(ProtocolId::SMB_PIPEDATA_UNKNOWN));
    flow.send(true, frame(write_request(3, 5, kPipe, "\x01\x02\x03\x04"s)));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB_PIPEDATA_UNKNOWN));
}

TEST(SmbDetector, FileReadIsScannedAcrossSegments) {
    Flow flow;
    flow.send(true, frame(smb2(3, 0, 1, 0, le16(9) + std::string(7, '\0'))));
    flow.send(false, frame(tree_connect_response(1, 7, 1)));
    flow.send(true, frame(read_request(2, 7, kFile, 0)));
    flow.send_split(false, frame(read_response(2, 7, png_file())), 100);
    flow.finish();
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB2));
    EXPECT_TRUE(flow.session.has(ProtocolId::IMAGE_PNG));
}

TEST(SmbDetector, UnneededReadDataIsSkipped) {
    Flow flow;
    flow.send(true, frame(smb2(3, 0, 1, 0, le16(9) + std::string(7, '\0'))));
    flow.send(false, frame(tree_connect_response(1, 7, 1)));
    flow.send(true, frame(read_request(2, 7, kFile, 0)));
    // The scanner judges the file by its first 4096 bytes; the rest of the read is skipped.
    flow.send_split(false, frame(read_response(2, 7, std::string(20000, 'z'))), 1000);
    EXPECT_GE(flow.skipped, 14);

    // The message after the skipped data is followed from its header.
    const std::string other = "\x55\x55\x55\x55\x55\x55\x55\x55\x66\x66\x66\x66\x66\x66\x66\x66"s;
    flow.send(true, frame(read_request(3, 7, other, 0)));
    flow.send_split(false, frame(read_response(3, 7, png_file())), 700);
    flow.finish();
    EXPECT_TRUE(flow.session.has(ProtocolId::IMAGE_PNG));
}

TEST(SmbDetector, FileWriteIsScanned) {
    Flow flow;
    flow.send(false, frame(tree_connect_response(1, 7, 1)));
    std::string data = png_file();
    flow.send_split(true, frame(write_request(2, 7, kFile, data.substr(0, 1000), 0)), 300);
    flow.send(true, frame(write_request(3, 7, kFile, data.substr(1000), 1000)));
    flow.send(true, frame(smb2(6, 0, 4, 7, le16(24) + le16(0) + le32(0) + kFile)));
    EXPECT_TRUE(flow.session.has(ProtocolId::IMAGE_PNG));
}

TEST(SmbDetector, TransformHeaderIsEncryptedSmb3) {
    std::string encrypted(200, '\x5a');
    std::string transform = "\xfdSMB"s + std::string(32, '\x07') + le32(encrypted.size()) +
                            le16(0) + le16(1) + le64(0x4000000001ULL);
    Flow flow;
    flow.send(true, frame(transform + encrypted));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB3_ENCRYPTED));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB2));

    Flow wrong_size;
    wrong_size.send(true, frame(transform + encrypted + "x"));
    EXPECT_FALSE(wrong_size.session.has(ProtocolId::SMB3_ENCRYPTED));
}

TEST(SmbDetector, CaptureStartingMidMessage) {
    Flow flow;
    std::string tail = "\x12\x34\x56\x00\x00\x00"s + std::string(50, '\x41');
    flow.send(false, tail + frame(read_response(9, 3, "abc")));
    EXPECT_TRUE(flow.session.has(ProtocolId::SMB2));
}

TEST(SmbDetector, FourBytesThatLookLikeAKeepaliveAreNotNetbios) {
    // Cassandra's native protocol: a version byte 0x85 and a zero flags byte.
    Flow flow(9042);
    flow.send(true, "\x05\x00\x00\x00\x05\x00\x00\x00\x00"s);
    flow.send(false, "\x85\x00\x00\x00\x06\x00\x00\x00\x66\x00\x03"s);
    EXPECT_FALSE(flow.session.has(ProtocolId::NBTSS));
    EXPECT_NE(flow.last, Verdict::kContinue);
}

TEST(SmbDetector, RejectsOtherProtocols) {
    Flow flow;
    flow.send(true, "SSH-2.0-OpenSSH_9.0\r\n");
    flow.send(false, "SSH-2.0-OpenSSH_9.0\r\n");
    flow.send(true, std::string(100, '\0'));
    flow.send(false,
              "\x00\x00\x00\x10"
              "0123456789abcdef"s);
    EXPECT_EQ(flow.last, Verdict::kNotMine);
    EXPECT_TRUE(flow.session.protocols().empty());
}

TEST(SmbDetector, SurvivesRandomAndTruncatedInput) {
    std::mt19937 random(3);
    std::string valid = frame(tree_connect_response(1, 7, 2)) +
                        frame(write_request(2, 7, kPipe, dce_bind())) +
                        frame(read_response(2, 7, png_file().substr(0, 300)));
    for (int round = 0; round < 1000; ++round) {
        std::string data = valid.substr(0, random() % (valid.size() + 1));
        for (char& c : data) {
            if (random() % 16 == 0) c = static_cast<char>(random());
        }
        Flow flow;
        flow.send_split(round % 2 == 0, data, 1 + random() % 200);
        flow.finish();
    }
}

}  // namespace
}  // namespace pw::detect
