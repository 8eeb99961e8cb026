// FINGER detection, with queries and replies of RFC 1288, and a live exchange with a
// finger server from Debian when one is installed.

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
#include "detect/finger.h"

namespace pw::detect {

std::unique_ptr<Detector> make_finger_detector();

namespace {

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_finger_detector();
    Verdict last = Verdict::kContinue;

    explicit Flow(uint16_t server_port)
        : session(Transport::kTcp, address(10), 50000, address(20), server_port) {}

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

TEST(FingerQuery, AcceptsRfcForms) {
    for (const char* query : {"\r\n", "alice\r\n", "/W alice\r\n", "/W\r\n", "@host.example\r\n",
                              "alice@a.example@b.example\r\n", "/W alice@host\r\n"}) {
        EXPECT_TRUE(finger::is_query(bytes(query))) << query;
    }
}

TEST(FingerQuery, RejectsOtherLines) {
    for (const char* query : {"alice\n", "GET / HTTP/1.0\r\n", "alice\r\nbob\r\n", "/Walice\r\n",
                              "alice@\r\n", "USER x\r\nPASS y\r\n"}) {
        EXPECT_FALSE(finger::is_query(bytes(query))) << query;
    }
}

TEST(FingerReply, TextOnly) {
    EXPECT_TRUE(finger::is_reply_text(bytes("Login: alice\t\tName: Alice\n")));
    EXPECT_FALSE(finger::is_reply_text(bytes(std::string("\x16\x03\x01\x00", 4))));
}

TEST(Finger, QueryThenReplyLabels) {
    Flow flow(79);
    EXPECT_EQ(flow.send(true, "/W alice\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "Login: alice\nDirectory: /home/alice\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::FINGER));
}

TEST(Finger, QuerySplitAcrossSegments) {
    Flow flow(79);
    EXPECT_EQ(flow.send(true, "ali"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "ce\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "No such user.\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::FINGER));
}

TEST(Finger, OtherPortIgnored) {
    // WHOIS has the same shape: one line, a text reply, a close.
    Flow flow(43);
    EXPECT_EQ(flow.send(true, "example.com\r\n"), Verdict::kNotMine);
}

TEST(Finger, ServerFirstRejected) {
    Flow flow(79);
    EXPECT_EQ(flow.send(false, "220 ready\r\n"), Verdict::kNotMine);
}

TEST(Finger, SecondClientLineRejected) {
    Flow flow(79);
    flow.send(true, "alice\r\n");
    EXPECT_EQ(flow.send(true, "bob\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::FINGER));
}

TEST(Finger, BinaryReplyRejected) {
    Flow flow(79);
    flow.send(true, "alice\r\n");
    EXPECT_EQ(flow.send(false, std::string("\x00\x01\x02\x03", 4)), Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::FINGER));
}

using namespace pw::loopback;


TEST(FingerLive, BsdFingerd) {
    if (!installed("/usr/sbin/in.fingerd") || !installed("/usr/bin/finger") ||
        !installed("/usr/bin/tcpdump")) {
        GTEST_SKIP() << "needs fingerd, finger and tcpdump";
    }
    // The finger client always connects to port 79.
    const std::string script = std::string(kInetd) +
                               "python3 inetd.py 79 2 /usr/sbin/in.fingerd & server=$!\n" +
                               kWaitForInetd +
                               "timeout 5 finger root@127.0.0.1\n"
                               "timeout 5 finger -l root@127.0.0.1\n"
                               "kill $server";
    FlowNames flows = record_loopback(script, "tcp port 79 and host 127.0.0.1");
    if (flows.empty()) GTEST_SKIP() << "nothing was recorded (is port 79 in use?)";
    EXPECT_EQ(flows.size(), 2u);
    for (const auto& [ports, names] : flows) {
        EXPECT_TRUE(names.count("FINGER")) << ports.first << "-" << ports.second;
    }
}

}  // namespace
}  // namespace pw::detect
