// TFTP detection, with datagrams built from RFC 1350 and RFC 2347, and a live transfer with
// tftpd-hpa and the tftp-hpa client when both are installed.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "loopback_recording.h"
#include "detect/detector.h"
#include "detect/tftp.h"

namespace pw::detect {

std::unique_ptr<Detector> make_tftp_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string u16(uint16_t value) {
    return {static_cast<char>(value >> 8), static_cast<char>(value & 0xFF)};
}

std::string data_block(uint16_t block, const std::string& payload) {
    return u16(tftp::kData) + u16(block) + payload;
}

std::string ack(uint16_t block) { return u16(tftp::kAck) + u16(block); }

// One UDP flow fed to the detector alone, as the pipeline would.
struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_tftp_detector();
    Verdict last = Verdict::kContinue;

    explicit Flow(uint16_t server_port = 69)
        : session(Transport::kUdp, address(10), 41000, address(20), server_port) {}

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        last = detector->inspect(session, Segment{bytes(data), from_initiator, 0, &packet});
        return last;
    }
};

TEST(TftpParse, Requests) {
    EXPECT_TRUE(tftp::parse(bytes("\x00\x01rfc1350.txt\0octet\0"s)).valid);
    EXPECT_TRUE(tftp::parse(bytes("\x00\x02zz.bin\0NetASCII\0"s)).valid);
    EXPECT_TRUE(tftp::parse(bytes("\x00\x01"
                                  "f\0octet\0blksize\0"
                                  "1468\0tsize\0"
                                  "0\0"s))
                    .valid);
    EXPECT_TRUE(tftp::parse(bytes("\x00\x01"
                                  "f\0mail\0\0\0"s))
                    .valid);
}

TEST(TftpParse, BadRequests) {
    EXPECT_FALSE(tftp::parse(bytes("\x00\x01"
                                   "file\0binary\0"s))
                     .valid);
    EXPECT_FALSE(tftp::parse(bytes("\x00\x01"
                                   "file\0octet"s))
                     .valid);
    EXPECT_FALSE(tftp::parse(bytes("\x00\x01"
                                   "file\0octet\0blksize\0"s))
                     .valid);
    EXPECT_FALSE(tftp::parse(bytes("\x00\x01\0octet\0"s)).valid);
}

// A server takes the file name as bytes: control characters in it do not hide a request.
TEST(TftpParse, AnyBytesInFileName) {
    EXPECT_TRUE(tftp::parse(bytes("\x00\x01"
                                  "boot\x01.bin\0octet\0"s))
                    .valid);
    EXPECT_TRUE(tftp::parse(bytes("\x00\x02"
                                  "\x1b[2J\xff\0netascii\0"s))
                    .valid);
}

TEST(TftpParse, OtherOpcodes) {
    EXPECT_TRUE(tftp::parse(bytes(ack(7))).valid);
    EXPECT_FALSE(tftp::parse(bytes(ack(7) + "x")).valid);
    EXPECT_TRUE(tftp::parse(bytes("\x00\x05\x00\x01"
                                  "File not found\0"s))
                    .valid);
    EXPECT_FALSE(tftp::parse(bytes("\x00\x05\x00\x63"
                                   "Nope\0"s))
                     .valid);
    EXPECT_TRUE(tftp::parse(bytes("\x00\x06"
                                  "blksize\0"
                                  "1468\0tsize\0"
                                  "100\0"s))
                    .valid);
    EXPECT_FALSE(tftp::parse(bytes("\x00\x06"
                                   "colour\0"
                                   "blue\0"s))
                     .valid);
    EXPECT_FALSE(tftp::parse(bytes("\x00\x09\x00\x00"s)).valid);
    EXPECT_FALSE(tftp::parse(bytes("\x00"s)).valid);
}

TEST(TftpLoose, NulFileName) {
    EXPECT_TRUE(tftp::is_loose_request(bytes("\x00\x01\0\0\0\0\0octet\0"s)));
    EXPECT_TRUE(tftp::is_loose_request(bytes("\x00\x01\0octet\0"s)));
    EXPECT_FALSE(tftp::is_loose_request(bytes("\x00\x01\x90\x91\0octet\0"s)));
    EXPECT_FALSE(
        tftp::is_loose_request(bytes("\x00\x01"
                                     "octet\0"s)));
}

TEST(Tftp, ReadRequestAnnouncesTransfer) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "\x00\x01rfc1350.txt\0octet\0"s), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::TFTP));
    auto expected = flow.session.take_expected();
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(expected[0].ip_protocol, decode::ip_protocol::kUdp);
    EXPECT_EQ(expected[0].client, Flow::address(10));
    EXPECT_EQ(expected[0].client_port, 41000);
    EXPECT_EQ(expected[0].server, Flow::address(20));
    EXPECT_EQ(expected[0].server_port, 0);
    EXPECT_EQ(expected[0].protocol, ProtocolId::TFTP);
}

TEST(Tftp, LooseRequestOnlyOnServerPort) {
    Flow on_port;
    on_port.send(true, "\x00\x01\0\0\0\0octet\0"s);
    EXPECT_TRUE(on_port.session.has(ProtocolId::TFTP));

    Flow elsewhere(5000);
    EXPECT_EQ(elsewhere.send(true, "\x00\x01\0\0\0\0octet\0"s), Verdict::kNotMine);
}

TEST(Tftp, DataThenAckLabelsAndScans) {
    Flow flow(50618);
    std::string png = "\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR"s + std::string(496, 'x');
    ASSERT_EQ(png.size(), 512u);
    EXPECT_EQ(flow.send(true, data_block(1, png)), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::TFTP));
    EXPECT_EQ(flow.send(false, ack(1)), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::TFTP));
    EXPECT_EQ(flow.send(true, data_block(2, "tail")), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::IMAGE_PNG));
}

TEST(Tftp, AckZeroThenDataLabels) {
    // A write: the server acknowledges block 0 from its new port, the client sends block 1.
    Flow flow(44618);
    flow.send(true, ack(0));
    EXPECT_EQ(flow.send(false, data_block(1, "\x1f\x8b\x08\x00"s + std::string(100, '\0'))),
              Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::TFTP));
}

TEST(Tftp, ExpectedFlowScansInOrder) {
    Flow flow(61017);
    flow.session.add(ProtocolId::TFTP);  // given by the request flow's announcement
    std::string gif = "GIF89a" + std::string(506, '\x01');
    EXPECT_EQ(flow.send(true, data_block(1, gif)), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, ack(1)), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, data_block(1, gif)), Verdict::kContinue);  // retransmitted
    EXPECT_EQ(flow.send(true, data_block(2, std::string(512, '\x02'))), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, data_block(3, "end")), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::IMAGE_GIF));
}

TEST(Tftp, GapEndsScan) {
    Flow flow(61017);
    flow.session.add(ProtocolId::TFTP);
    flow.send(true, data_block(1, std::string(512, 'a')));
    EXPECT_EQ(flow.send(true, data_block(5, std::string(512, 'b'))), Verdict::kDone);
}

TEST(Tftp, FinishIdentifiesShortTransfer) {
    Flow flow(61017);
    flow.session.add(ProtocolId::TFTP);
    std::string zip = "PK\x03\x04"s + std::string(1020, '\0');
    flow.send(true, data_block(1, zip.substr(0, 512)));
    flow.send(true, data_block(2, zip.substr(512)));
    ASSERT_EQ(flow.last, Verdict::kContinue);
    flow.detector->finish(flow.session);
    SUCCEED();
}

TEST(Tftp, OptionAckLabels) {
    Flow flow(47649);
    flow.send(true,
              "\x00\x06"
              "blksize\0"
              "1468\0tsize\0"
              "100000\0"s);
    EXPECT_TRUE(flow.session.has(ProtocolId::TFTP));
}

TEST(Tftp, UnmatchedAckNotLabeled) {
    Flow flow(5004);
    flow.send(true, data_block(9, "rtp-like"));
    flow.send(false, ack(3));
    EXPECT_FALSE(flow.session.has(ProtocolId::TFTP));
}

TEST(Tftp, OtherClassifiedFlowRejected) {
    Flow flow;
    flow.session.add(ProtocolId::DNS);
    EXPECT_EQ(flow.send(true,
                        "\x00\x01"
                        "f\0octet\0"s),
              Verdict::kNotMine);
}

TEST(Tftp, RandomDatagramsNeverLabel) {
    for (int seed = 0; seed < 300; ++seed) {
        Flow flow(seed % 3 == 0 ? 69 : 30000 + seed);
        for (int i = 0; i < 4; ++i) {
            std::string datagram;
            size_t length = static_cast<size_t>((seed * 7 + i * 13) % 40);
            for (size_t j = 0; j < length; ++j) {
                datagram.push_back(static_cast<char>((seed * 31 + i * 101 + j * 57) & 0xFF));
            }
            flow.send(i % 2 == 0, datagram);
        }
        EXPECT_FALSE(flow.session.has(ProtocolId::TFTP)) << seed;
    }
}

using namespace pw::loopback;

TEST(TftpLive, ReadAndWriteWithTftpdHpa) {
    if (!installed("/usr/sbin/in.tftpd") || !installed("/usr/bin/tftp") ||
        !installed("/usr/bin/tcpdump")) {
        GTEST_SKIP() << "needs tftpd-hpa, tftp-hpa and tcpdump";
    }
    const std::string port = std::to_string(live_port(69));
    // A GIF to read and a gzip file to write, each longer than one 512-byte block.
    const std::string script =
        "mkdir srv && printf 'GIF89a\\001\\000\\001\\000' > srv/image.gif\n"
        "head -c 1500 /dev/zero >> srv/image.gif\n"
        "seq 1 2000 | gzip -c > upload.gz\n"
        "chmod 777 srv\n"
        "/usr/sbin/in.tftpd -L -c -a 127.0.0.1:" +
        port +
        " -s \"$PWD/srv\" & server=$!\n"
        "sleep 0.5\n"
        "timeout 10 tftp -m binary 127.0.0.1 " +
        port +
        " -c get image.gif copy.gif\n"
        "timeout 10 tftp -m binary 127.0.0.1 " +
        port +
        " -c put upload.gz upload.gz\n"
        "kill $server";
    FlowNames flows = record_loopback(script, "udp and host 127.0.0.1");
    if (flows.empty()) GTEST_SKIP() << "nothing was recorded on the loopback interface";

    int requests = 0;
    bool read_scanned = false;
    bool write_scanned = false;
    for (const auto& [ports, names] : flows) {
        bool to_server =
            std::to_string(ports.first) == port || std::to_string(ports.second) == port;
        if (to_server && names.count("TFTP")) ++requests;
        if (!to_server && names.count("TFTP") && names.count("IMAGE_GIF")) read_scanned = true;
        if (!to_server && names.count("TFTP") && names.count("FILE_GZIP")) write_scanned = true;
    }
    EXPECT_EQ(requests, 2);
    EXPECT_TRUE(read_scanned);
    EXPECT_TRUE(write_scanned);
}

}  // namespace
}  // namespace pw::detect
