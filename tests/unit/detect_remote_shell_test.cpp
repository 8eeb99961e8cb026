// TELNET, RLOGIN and RSH detection, with handshakes built from RFC 854/855 and RFC 1282 and
// the BSD rsh protocol, and a live session with the Debian telnet server when installed.

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
#include "detect/remote_shell.h"

namespace pw::detect {

std::unique_ptr<Detector> make_remote_shell_detector();

namespace {

using namespace std::string_literals;
using remote_shell::Match;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// One TCP flow fed to the detector alone, as the pipeline would.
struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_remote_shell_detector();
    Verdict last = Verdict::kContinue;

    explicit Flow(uint16_t server_port, uint16_t client_port = 40000)
        : session(Transport::kTcp, address(10), client_port, address(20), server_port) {}

    static decode::IpAddress address(uint8_t last_byte) {
        const uint8_t raw[4] = {192, 0, 2, last_byte};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_initiator, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        Segment segment{bytes(data), from_initiator, 0, &packet};
        last = detector->inspect(session, segment);
        return last;
    }
};

TEST(TelnetScan, CountsNegotiations) {
    auto scan = remote_shell::scan_telnet(bytes("\xff\xfd\x03\xff\xfb\x18\xff\xfb\x1f"s));
    EXPECT_EQ(scan.negotiations, 3u);
    EXPECT_FALSE(scan.rejected);
}

TEST(TelnetScan, CountsSubnegotiation) {
    auto scan = remote_shell::scan_telnet(bytes("\xff\xfa\x18\x01\xff\xf0\xff\xfe\x24"s));
    EXPECT_EQ(scan.negotiations, 2u);
}

TEST(TelnetScan, RejectsUnassignedOption) {
    auto scan = remote_shell::scan_telnet(bytes("\xff\xfb\x7b\xff\xfd\x01"s));
    EXPECT_TRUE(scan.rejected);
}

TEST(TelnetScan, StopsAtUnterminatedSubnegotiation) {
    auto scan = remote_shell::scan_telnet(bytes("\xff\xfb\x01\xff\xfa\x18\x00xterm"s));
    EXPECT_EQ(scan.negotiations, 1u);
    EXPECT_FALSE(scan.rejected);
}

TEST(Telnet, ClientNegotiationLabels) {
    Flow flow(23);
    EXPECT_EQ(flow.send(true, "\xff\xfd\x03\xff\xfb\x18\xff\xfb\x1f"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::TELNET));
}

TEST(Telnet, OneNegotiationEachWay) {
    Flow flow(2323);
    EXPECT_EQ(flow.send(false, "\xff\xfd\x25"s), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "\xff\xfc\x25"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::TELNET));
}

TEST(Telnet, MidStreamAfterText) {
    Flow flow(23);
    EXPECT_EQ(flow.send(false, "Last login: Mon\r\n$ "), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "\xff\xfe\x24\xff\xfa\x18\x01\xff\xf0"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::TELNET));
}

TEST(Telnet, SingleNegotiationIsNotEnough) {
    Flow flow(23);
    EXPECT_EQ(flow.send(false, "\xff\xfd\x25"s), Verdict::kContinue);
    EXPECT_FALSE(flow.session.has(ProtocolId::TELNET));
}

TEST(Telnet, BinaryFlowRejected) {
    Flow flow(23);
    EXPECT_EQ(flow.send(true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s), Verdict::kNotMine);
}

TEST(RloginMatch, FullHandshake) {
    EXPECT_EQ(remote_shell::match_rlogin(bytes("\0alice\0bob\0xterm/38400\0"s)), Match::kYes);
}

TEST(RloginMatch, PrefixIsIncomplete) {
    EXPECT_EQ(remote_shell::match_rlogin(bytes("\0alice\0bo"s)), Match::kIncomplete);
}

TEST(RloginMatch, TerminalWithoutSpeed) {
    // netkit rlogin with its input not a terminal.
    EXPECT_EQ(remote_shell::match_rlogin(bytes("\0root\0root\0xterm\0"s)), Match::kYes);
    EXPECT_EQ(remote_shell::match_rlogin(bytes("\0alice\0bob\0xterm-256color\0"s)), Match::kYes);
    // An rsh client without a stderr channel: its command where the terminal would be.
    EXPECT_EQ(remote_shell::match_rlogin(bytes("\0alice\0bob\0uptime\0"s)), Match::kNo);
}

TEST(RloginMatch, TextRejected) {
    EXPECT_EQ(remote_shell::match_rlogin(bytes("GET / HTTP/1.0\r\n"s)), Match::kNo);
}

TEST(Rlogin, HandshakeSplitAcrossSegments) {
    Flow flow(513, 1022);
    EXPECT_EQ(flow.send(true, "\0"s), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "alice\0bob\0vt100/9600\0"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::RLOGIN));
}

TEST(Rlogin, OverlongUserOnRloginPort) {
    std::string head = "\0"s + std::string(600, 'u');
    Flow on_port(513);
    EXPECT_EQ(on_port.send(true, head), Verdict::kDone);
    EXPECT_TRUE(on_port.session.has(ProtocolId::RLOGIN));

    Flow elsewhere(6000);
    elsewhere.send(true, head);
    EXPECT_FALSE(elsewhere.session.has(ProtocolId::RLOGIN));
}

TEST(RshMatch, FullHandshakeWithStderrPort) {
    auto rsh = remote_shell::match_rsh(bytes("1021\0alice\0bob\0ls -l /tmp\0"s));
    EXPECT_EQ(rsh.match, Match::kYes);
    EXPECT_EQ(rsh.stderr_port, 1021);
}

TEST(RshMatch, PortOutOfRangeRejected) {
    EXPECT_EQ(remote_shell::match_rsh(bytes("70000\0a\0b\0ls\0"s)).match, Match::kNo);
}

TEST(RshMatch, SyslogFramingRejected) {
    // RFC 6587 octet counting on TCP port 514: digits, a space, a syslog message.
    EXPECT_EQ(remote_shell::match_rsh(bytes("51 <13>Oct 11 22:14:15 host su: failed"s)).match,
              Match::kNo);
}

TEST(Rsh, HandshakeAnnouncesStderrConnection) {
    Flow flow(514, 1023);
    EXPECT_EQ(flow.send(true, "1022\0alice\0bob\0uname -a\0"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::RSH));
    auto expected = flow.session.take_expected();
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(expected[0].server_port, 1022);
    EXPECT_EQ(expected[0].client, Flow::address(20));
    EXPECT_EQ(expected[0].server, Flow::address(10));
}

TEST(Rsh, RexecShapeOffPortNotLabeled) {
    // rexec sends the same four fields from an unreserved port to port 512.
    Flow flow(512, 45000);
    flow.send(true, "0\0alice\0secret\0ls\0"s);
    EXPECT_FALSE(flow.session.has(ProtocolId::RSH));
}

TEST(Rsh, OverlongUserOnRshPort) {
    Flow flow(514);
    EXPECT_EQ(flow.send(true, "0\0"s + std::string(700, 'c')), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::RSH));
}

TEST(RemoteShell, ServerFirstTextRejected) {
    Flow flow(514);
    flow.send(false, "220 mail.example.com ESMTP\r\n");
    for (int i = 0; i < 8 && flow.last == Verdict::kContinue; ++i) {
        flow.send(true, "EHLO client\r\n");
    }
    EXPECT_EQ(flow.last, Verdict::kNotMine);
    EXPECT_TRUE(flow.session.protocols().empty());
}

TEST(RemoteShell, MalformedInputNeverLabels) {
    for (int seed = 0; seed < 200; ++seed) {
        Flow flow(seed % 2 ? 513 : 514);
        std::string data;
        for (int i = 0; i < 40; ++i)
            data.push_back(static_cast<char>((seed * 131 + i * 17) & 0xFF));
        flow.send(true, data);
        flow.send(false, data.substr(0, seed % 40));
        EXPECT_FALSE(flow.session.has(ProtocolId::RSH)) << seed;
        EXPECT_FALSE(flow.session.has(ProtocolId::RLOGIN)) << seed;
    }
}

using namespace pw::loopback;


TEST(TelnetLive, InetutilsTelnetd) {
    if (!installed("/usr/sbin/telnetd") || !installed("/usr/bin/telnet") ||
        !installed("/usr/bin/tcpdump")) {
        GTEST_SKIP() << "needs inetutils-telnetd, a telnet client and tcpdump";
    }
    const int port = live_port(23);
    // The server negotiates its options and then runs /bin/true in place of login.
    const std::string script = std::string(kInetd) + "python3 inetd.py " + std::to_string(port) +
                               " 1 /usr/sbin/telnetd -h -E /bin/true & server=$!\n" +
                               kWaitForInetd + "(sleep 2) | timeout 5 telnet 127.0.0.1 " +
                               std::to_string(port) + "\nkill $server";
    FlowNames flows = record_loopback(script, "tcp port " + std::to_string(port));
    if (flows.empty()) GTEST_SKIP() << "nothing was recorded on the loopback interface";
    ASSERT_EQ(flows.size(), 1u);
    EXPECT_TRUE(flows.begin()->second.count("TELNET"));
}

}  // namespace
}  // namespace pw::detect
