// IRC detection, with messages of RFC 1459, RFC 2812 and the IRCv3 capability negotiation,
// and a registration with ngircd when it is installed.

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
#include "detect/irc.h"

namespace pw::detect {

std::unique_ptr<Detector> make_irc_detector();

namespace {

using irc::Evidence;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_irc_detector();
    Verdict last = Verdict::kContinue;

    Flow() : session(Transport::kTcp, address(10), 50000, address(20), 6667) {}

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

TEST(IrcLine, StrongMessages) {
    for (const char* line : {
             ":irc.example.net 001 alice :Welcome to the network",
             ":irc.example.net NOTICE * :*** Looking up your hostname...",
             ":alice!a@host.example PRIVMSG #chat :hello",
             "NOTICE AUTH :*** Found your hostname",
             "PRIVMSG bob :\x01"
             "DCC SEND file.txt 3232235876 5000 1024\x01",
             "CAP LS 302",
             "CAP REQ :multi-prefix",
             ":server CAP * LS :account-notify away-notify",
             "USER alice 0 * :Alice Liddell",
             "@time=2023-01-01T00:00:00Z :nick!u@h JOIN #chan",
         }) {
        EXPECT_EQ(irc::classify_line(line), Evidence::kStrong) << line;
    }
}

TEST(IrcLine, WeakAndSharedMessages) {
    EXPECT_EQ(irc::classify_line("NICK alice"), Evidence::kWeak);
    EXPECT_EQ(irc::classify_line("JOIN #chat"), Evidence::kWeak);
    EXPECT_EQ(irc::classify_line("PING :irc.example.net"), Evidence::kKeepAlive);
    EXPECT_EQ(irc::classify_line("PONG 1491069075027"), Evidence::kKeepAlive);
    EXPECT_EQ(irc::classify_line("USER anonymous"), Evidence::kShared);
    EXPECT_EQ(irc::classify_line("PASS secret"), Evidence::kShared);
    EXPECT_EQ(irc::classify_line("MODE S"), Evidence::kShared);
}

TEST(IrcLine, OtherProtocolsNone) {
    for (const char* line : {"GET / HTTP/1.1", "220 ftp.example.com ready", "EHLO client",
                             "a1 LOGIN alice secret", "+OK POP3 ready", "PRIVMSG", "NICK",
                             "nick alice", "PING", ":prefix", "HTTP/1.1 200 OK"}) {
        EXPECT_EQ(irc::classify_line(line), Evidence::kNone) << line;
    }
}

TEST(Irc, ServerNumericLabels) {
    Flow flow;
    EXPECT_EQ(flow.send(false, ":irc.example.net 001 alice :Welcome\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::IRC));
}

TEST(Irc, RegistrationWithoutPrefixLabels) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "USER foo\nNICK foo\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::IRC));
}

TEST(Irc, LineSplitAcrossSegments) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "PRIVMSG #chat :hel"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "lo\r\n"), Verdict::kDone);
}

TEST(Irc, TextBeforeIrcLines) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "POST abcd12345\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "USER abab1212 \"zz\" \"yy\" :f6e1 l6e13\n"), Verdict::kDone);
}

TEST(Irc, FtpLoginNotLabeled) {
    Flow flow;
    flow.send(false, "220 FTP server ready\r\n");
    flow.send(true, "USER anonymous\r\n");
    flow.send(false, "331 Password required\r\n");
    flow.send(true, "PASS guest@\r\n");
    flow.send(true, "MODE S\r\nLIST\r\nQUIT\r\n");
    EXPECT_FALSE(flow.session.has(ProtocolId::IRC));
}

// Speedtest's control protocol greets with HI and HELLO and then measures latency with
// PING and PONG lines of timestamps.
TEST(Irc, KeepAlivesAloneNotLabeled) {
    Flow flow;
    flow.send(true, "HI\n");
    flow.send(false, "HELLO 2.4 2016-10-06.1324.996ab91\n");
    for (int i = 0; i < 4; ++i) {
        flow.send(true, "PING 1491069115246\n");
        flow.send(false, "PONG 1491069075027\n");
    }
    EXPECT_FALSE(flow.session.has(ProtocolId::IRC));
}

TEST(Irc, KeepAliveBacksNick) {
    Flow flow;
    EXPECT_EQ(flow.send(false, "PING :irc.example.net\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "NICK alice\r\n"), Verdict::kDone);
}

TEST(Irc, BinaryRejected) {
    Flow flow;
    EXPECT_EQ(flow.send(true, std::string("\x16\x03\x01\x00\x05hello", 10)), Verdict::kNotMine);
}

TEST(Irc, LongLineSkipped) {
    Flow flow;
    EXPECT_EQ(flow.send(true, std::string(5000, 'a') + "\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "JOIN #c\nNICK n\n"), Verdict::kDone);
}

using namespace pw::loopback;

TEST(IrcLive, NgircdRegistration) {
    if (!installed("/usr/sbin/ngircd") || !installed("/usr/bin/tcpdump")) {
        GTEST_SKIP() << "needs ngircd and tcpdump";
    }
    const std::string port = std::to_string(live_port(6667));
    // The client registers, waits for the welcome reply, joins a channel and talks.
    const std::string script =
        "printf '[Global]\\nName = irc.test.example\\nInfo = test\\nListen = 127.0.0.1\\n"
        "Ports = " +
        port +
        "\\n[Options]\\nPAM = no\\nIdent = no\\nDNS = no\\n' > ngircd.conf\n"
        "/usr/sbin/ngircd -n -f ngircd.conf & server=$!\n"
        "cat > client.py <<'PY'\n"
        "import socket, sys, time\n"
        "for attempt in range(50):\n"
        "    try:\n"
        "        s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5)\n"
        "        break\n"
        "    except ConnectionRefusedError:\n"
        "        time.sleep(0.1)\n"
        "s.sendall(b'NICK alice\\r\\nUSER alice 0 * :Alice\\r\\n')\n"
        "data = b''\n"
        "while b' 001 ' not in data:\n"
        "    chunk = s.recv(4096)\n"
        "    if not chunk:\n"
        "        break\n"
        "    data += chunk\n"
        "s.sendall(b'JOIN #test\\r\\nPRIVMSG #test :hello\\r\\nQUIT :bye\\r\\n')\n"
        "time.sleep(0.3)\n"
        "PY\n"
        "timeout 10 python3 client.py " +
        port +
        "\n"
        "kill $server";
    FlowNames flows = record_loopback(script, "tcp port " + port);
    if (flows.empty()) GTEST_SKIP() << "nothing was recorded on the loopback interface";
    // Connection attempts made before the server listened carry no data.
    int irc = 0;
    for (const auto& [ports, names] : flows) irc += names.count("IRC") ? 1 : 0;
    EXPECT_EQ(irc, 1);
}

}  // namespace
}  // namespace pw::detect
