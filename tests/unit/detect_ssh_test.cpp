// SSH detection by the identification string of RFC 4253 section 4.2.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_ssh_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

struct Flow {
    Session session{Transport::kTcp, address(1), 50000, address(2), 22};
    std::unique_ptr<Detector> detector = make_ssh_detector();
    Verdict last = Verdict::kContinue;

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_client, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        last = detector->inspect(session, Segment{bytes(data), from_client, 0, &packet});
        return last;
    }
    bool ssh() const { return session.has(ProtocolId::SSH); }
};

TEST(SshDetector, ServerIdentification) {
    Flow flow;
    EXPECT_EQ(flow.send(false, "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.ssh());
}

TEST(SshDetector, ClientIdentification) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "SSH-2.0-PuTTY_Release_0.80\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.ssh());
}

TEST(SshDetector, Ssh1AndCompatibilityVersions) {
    for (const char* line : {"SSH-1.5-1.2.27\n", "SSH-1.99-Cisco-1.25\r\n"}) {
        Flow flow;
        flow.send(false, line);
        EXPECT_TRUE(flow.ssh()) << line;
    }
}

TEST(SshDetector, StringSplitAcrossSegments) {
    Flow flow;
    EXPECT_EQ(flow.send(false, "SSH-2."), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "0-dropbear_2022.83\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.ssh());
}

TEST(SshDetector, StringSplitBetweenCrAndLf) {
    Flow flow;
    EXPECT_EQ(flow.send(false, "SSH-2.0-OpenSSH_9.2p1\r"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "\n"), Verdict::kDone);
    EXPECT_TRUE(flow.ssh());
}

TEST(SshDetector, ServerLinesBeforeIdentification) {
    Flow flow;
    flow.send(false, "Welcome to the lab gateway\r\nAuthorized use only\r\n");
    EXPECT_FALSE(flow.ssh());
    flow.send(false, "SSH-2.0-OpenSSH_8.4\r\n");
    EXPECT_TRUE(flow.ssh());
}

TEST(SshDetector, NulPaddedIdentification) {
    Flow flow;
    flow.send(false, "SSH-1.99-Cisco_server-1.24 "s + std::string(100, '\0') + "\n");
    EXPECT_TRUE(flow.ssh());
}

TEST(SshDetector, ClientMustIdentifyFirst) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "Hello\r\nSSH-2.0-x\r\n"), Verdict::kContinue);
    EXPECT_FALSE(flow.ssh());
}

TEST(SshDetector, MalformedIdentifications) {
    for (const char* line :
         {"SSH-2.0\r\n", "SSH-x.0-abc\r\n", "SSH-2.-abc\r\n", "SSH-2.0- c\r\n", "SSH-2.0-\r\n"}) {
        Flow flow;
        flow.send(false, line);
        flow.send(true, "GET / HTTP/1.1\r\n");
        EXPECT_FALSE(flow.ssh()) << line;
        EXPECT_EQ(flow.last, Verdict::kNotMine) << line;
    }
}

TEST(SshDetector, OtherProtocolsAreNotMine) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "HTTP/1.1 200 OK\r\n\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(flow.ssh());

    Flow binary;
    binary.send(true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc"s);
    EXPECT_EQ(binary.send(false, "\x16\x03\x03\x00\x5d\x02"s), Verdict::kNotMine);
}

TEST(SshDetector, ServerAnswersOtherProtocolClient) {
    // A client speaking HTTP to an SSH server: another detector classifies the flow from
    // the request, and the server's reply still names SSH.
    Flow flow;
    flow.send(true, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    flow.session.add(ProtocolId::HTTP);
    EXPECT_EQ(flow.send(false, "SSH-2.0-OpenSSH_6.6.1\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.ssh());
}

TEST(SshDetector, ClassifiedFlowReadsOnlyFirstReply) {
    Flow flow;
    flow.send(true, "GET / HTTP/1.1\r\n\r\n");
    flow.session.add(ProtocolId::HTTP);
    EXPECT_EQ(flow.send(false, "HTTP/1.1 200 OK\r\n"), Verdict::kNotMine);
}

TEST(SshDetector, RandomBytesDoNotCrash) {
    std::mt19937 random(3);
    for (int round = 0; round < 500; ++round) {
        std::string data = "SSH-2.0-";
        data.resize(random() % 600);
        for (size_t i = 8; i < data.size(); ++i) data[i] = static_cast<char>(random());
        Flow flow;
        flow.send(false, data);
        flow.send(true, data);
        flow.send(false, data);
    }
}

}  // namespace
}  // namespace pw::detect
