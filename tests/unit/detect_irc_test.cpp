// IRC detection, with messages of RFC 1459, RFC 2812 and the IRCv3 capability negotiation.

#include <gtest/gtest.h>

#include <memory>
#include <string>

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
    EXPECT_EQ(irc::classify_line("PING :irc.example.net"), Evidence::kWeak);
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

TEST(Irc, BinaryRejected) {
    Flow flow;
    EXPECT_EQ(flow.send(true, std::string("\x16\x03\x01\x00\x05hello", 10)), Verdict::kNotMine);
}

TEST(Irc, LongLineSkipped) {
    Flow flow;
    EXPECT_EQ(flow.send(true, std::string(5000, 'a') + "\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "JOIN #c\nNICK n\n"), Verdict::kDone);
}

}  // namespace
}  // namespace pw::detect
