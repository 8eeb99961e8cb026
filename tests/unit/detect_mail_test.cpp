// SMTP and IMAP detection, with sessions written after RFC 5321, RFC 3207, RFC 9051 and
// the greetings of common servers.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_smtp_detector();
std::unique_ptr<Detector> make_imap_detector();

namespace {

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

decode::IpAddress v4(uint8_t last_byte) {
    const uint8_t raw[4] = {192, 0, 2, last_byte};
    return decode::IpAddress::v4(raw);
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector;
    Verdict last = Verdict::kContinue;

    Flow(std::unique_ptr<Detector> made, uint16_t port)
        : session(Transport::kTcp, v4(1), 50000, v4(2), port), detector(std::move(made)) {}

    Verdict send(bool from_client, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        last = detector->inspect(session, Segment{bytes(data), from_client, 0, &packet});
        return last;
    }
    bool has(ProtocolId id) const { return session.has(id); }
};

Flow smtp() { return Flow(make_smtp_detector(), 25); }
Flow imap() { return Flow(make_imap_detector(), 143); }

TEST(SmtpDetector, EsmtpGreeting) {
    Flow flow = smtp();
    flow.send(false, "220 mx.example.com ESMTP Postfix (Debian/GNU)\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::SMTP));
}

// A segment that ends between a line's CR and LF: the CR is no binary byte.
TEST(SmtpDetector, GreetingSplitBetweenCrAndLf) {
    Flow flow = smtp();
    EXPECT_EQ(flow.send(false, "220 mx.example.com ESMTP Postfix\r"), Verdict::kContinue);
    flow.send(false, "\n");
    EXPECT_TRUE(flow.has(ProtocolId::SMTP));
}

TEST(SmtpDetector, PlainGreetingThenEhlo) {
    Flow flow = smtp();
    flow.send(false, "220 mx.example.com ready\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::SMTP));
    flow.send(true, "EHLO client.example.org\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::SMTP));
}

TEST(SmtpDetector, BareEhloNeedsReply) {
    Flow flow = smtp();
    flow.send(true, "EHLO\n");
    EXPECT_FALSE(flow.has(ProtocolId::SMTP));
    flow.send(false, "250 ok\n");
    EXPECT_TRUE(flow.has(ProtocolId::SMTP));
}

TEST(SmtpDetector, SessionSeenAfterGreeting) {
    Flow flow = smtp();
    flow.send(true, "MAIL FROM:<alice@example.org>\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::SMTP));
}

TEST(SmtpDetector, ClientJunkBeforeGreeting) {
    Flow flow = smtp();
    flow.send(true, std::string("\x8f\x01\xfe\n\x00\x13", 6));
    flow.send(false, "220 host ESMTP Sendmail 8.14.3\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::SMTP));
}

TEST(SmtpDetector, FtpGreetingIsNotSmtp) {
    Flow flow = smtp();
    flow.send(false, "220 ProFTPD 1.3.8 Server (SMTP relay test) [192.0.2.2]\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::SMTP));
    EXPECT_EQ(flow.send(true, "USER anonymous\r\n"), Verdict::kNotMine);
}

TEST(SmtpDetector, OtherProtocolsAreNotMine) {
    Flow http = smtp();
    EXPECT_EQ(http.send(true, "GET / HTTP/1.1\r\n"), Verdict::kNotMine);
    Flow pop = smtp();
    EXPECT_EQ(pop.send(false, "+OK POP3 server ready\r\n"), Verdict::kNotMine);
    Flow binary = smtp();
    EXPECT_EQ(binary.send(false, std::string("\x16\x03\x03\x00\x10\x02", 6)), Verdict::kNotMine);
}

TEST(SmtpDetector, StartTlsOpensInnerLayer) {
    Flow flow = smtp();
    flow.send(false, "220 mx.example.com ESMTP\r\n");
    flow.send(true, "EHLO c.example.org\r\n");
    flow.send(false, "250-mx.example.com\r\n250 STARTTLS\r\n");
    flow.send(true, "STARTTLS\r\n");
    EXPECT_FALSE(flow.session.take_inner_layer());
    EXPECT_EQ(flow.send(false, "220 2.0.0 Ready to start TLS\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
    EXPECT_TRUE(flow.has(ProtocolId::SMTP));
}

TEST(SmtpDetector, RefusedStartTlsKeepsPlainText) {
    Flow flow = smtp();
    flow.send(false, "220 mx.example.com ESMTP\r\n");
    flow.send(true, "STARTTLS\r\n");
    flow.send(false, "454 4.7.0 TLS not available\r\n");
    EXPECT_FALSE(flow.session.take_inner_layer());
    flow.send(true, "MAIL FROM:<a@example.org>\r\n");
    EXPECT_EQ(flow.last, Verdict::kDone);
}

TEST(ImapDetector, Greeting) {
    Flow flow = imap();
    flow.send(false, "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] Dovecot ready.\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::IMAP));
}

TEST(ImapDetector, GreetingSplitBetweenCrAndLf) {
    Flow flow = imap();
    EXPECT_EQ(flow.send(false, "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r"), Verdict::kContinue);
    flow.send(false, "\n");
    EXPECT_TRUE(flow.has(ProtocolId::IMAP));
}

TEST(ImapDetector, GreetingThenTaggedCommand) {
    Flow flow = imap();
    flow.send(false, "* OK server ready\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::IMAP));
    flow.send(true, "a001 CAPABILITY\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::IMAP));
}

TEST(ImapDetector, SessionSeenAfterGreeting) {
    Flow flow = imap();
    flow.send(true, "A142 SELECT INBOX\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::IMAP));
    flow.send(false, "* 172 EXISTS\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::IMAP));

    Flow tagged = imap();
    tagged.send(true, "a2 NOOP\r\n");
    tagged.send(false, "a2 OK NOOP completed\r\n");
    EXPECT_TRUE(tagged.has(ProtocolId::IMAP));
}

TEST(ImapDetector, HeaderLinesAreNotCommands) {
    Flow flow = imap();
    flow.send(true, "\x01\x02 GET /txt HTTP/1.1\r\nConnection: Close\r\nHost: a\r\n\r\n");
    flow.send(false, "HTTP/1.1 200 OK\r\n\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::IMAP));
    EXPECT_EQ(flow.last, Verdict::kNotMine);
}

TEST(ImapDetector, Pop3IsNotImap) {
    Flow flow = imap();
    EXPECT_EQ(flow.send(false, "+OK Dovecot ready.\r\n"), Verdict::kNotMine);
}

TEST(ImapDetector, StartTlsOpensInnerLayer) {
    Flow flow = imap();
    flow.send(false, "* OK IMAP4rev1 ready\r\n");
    flow.send(true, "a1 STARTTLS\r\n");
    EXPECT_EQ(flow.send(false, "a1 OK Begin TLS negotiation now\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
}

TEST(MailDetectors, RandomTextDoesNotCrash) {
    std::mt19937 random(9);
    const std::string alphabet = "0123456789 *-:aOKEHLSTR\r\n\x01\xff";
    for (int round = 0; round < 1000; ++round) {
        std::string data(random() % 300, ' ');
        for (char& c : data) c = alphabet[random() % alphabet.size()];
        Flow mail = smtp();
        Flow mailbox = imap();
        for (Flow* flow : {&mail, &mailbox}) {
            flow->send(false, data);
            flow->send(true, data);
            flow->send(false, data);
        }
    }
}

}  // namespace
}  // namespace pw::detect
