// FTP control and data connection detection, with sessions written after RFC 959,
// RFC 2428 and RFC 4217.

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_ftp_detector();

namespace {

using namespace std::string_literals;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

decode::IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const uint8_t raw[4] = {a, b, c, d};
    return decode::IpAddress::v4(raw);
}

const decode::IpAddress kClient = v4(192, 0, 2, 10);
const decode::IpAddress kServer = v4(198, 51, 100, 20);

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_ftp_detector();
    Verdict last = Verdict::kContinue;

    explicit Flow(uint16_t client_port = 50000, uint16_t server_port = 21)
        : session(Transport::kTcp, kClient, client_port, kServer, server_port) {}

    // A connection whose capture began after its start, so after the greeting.
    static Flow mid_stream() {
        Flow flow;
        flow.session.set_mid_stream(true);
        return flow;
    }

    Verdict send(bool from_client, const std::string& data) {
        if (last != Verdict::kContinue) return last;
        decode::Packet packet;
        packet.source = from_client ? kClient : kServer;
        packet.target = from_client ? kServer : kClient;
        last = detector->inspect(session, Segment{bytes(data), from_client, 0, &packet});
        return last;
    }
    bool has(ProtocolId id) const { return session.has(id); }
};

Flow logged_in() {
    Flow flow;
    flow.send(false, "220 (vsFTPd 3.0.5)\r\n");
    flow.send(true, "USER anonymous\r\n");
    flow.send(false, "331 Please specify the password.\r\n");
    return flow;
}

TEST(FtpDetector, GreetingNamesFtp) {
    Flow flow;
    flow.send(false, "220 ProFTPD Server (Debian) [198.51.100.20]\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::FTP));
    EXPECT_EQ(flow.last, Verdict::kContinue);  // keeps reading for data connections
}

TEST(FtpDetector, PlainGreetingThenCommand) {
    Flow flow;
    flow.send(false, "220-Welcome\r\n220 Service ready\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
    flow.send(true, "USER anonymous\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::FTP));
}

TEST(FtpDetector, SessionSeenAfterGreeting) {
    Flow flow = Flow::mid_stream();
    flow.send(true, "NOOP\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
    flow.send(true, "PASV\r\n");
    flow.send(false, "227 Entering Passive Mode (198,51,100,20,183,187).\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::FTP));
}

TEST(FtpDetector, OneDistinctCommandMidStream) {
    for (std::string line : {"PASV\r\n"s, "TYPE I\r\n"s, "CWD /pub\r\n"s, "RETR notes.txt\r\n"s,
                             "PORT 192,0,2,10,195,80\r\n"s, "RETR a\0b.xml\r\n"s}) {
        Flow flow = Flow::mid_stream();
        flow.send(true, line);
        EXPECT_TRUE(flow.has(ProtocolId::FTP)) << line;
    }
}

TEST(FtpDetector, OneSharedCommandIsNotEnough) {
    // POP3 clients send these, and a shell user types pwd in lower case.
    for (std::string line : {"USER anonymous\r\n", "PASS secret\r\n", "RETR 1\r\n", "LIST\r\n",
                             "pwd\r\n", "TYPE\r\n", "CWD\r\n", "PASVX\r\n", "PORT 1,2,3\r\n"}) {
        Flow flow;
        flow.send(true, line);
        EXPECT_FALSE(flow.has(ProtocolId::FTP)) << line;
    }
}

TEST(FtpDetector, LoneLoginReplyMidStream) {
    Flow flow = Flow::mid_stream();
    flow.send(false, "230 Guest access granted for anonymous.\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
    flow.detector->finish(flow.session);
    EXPECT_TRUE(flow.has(ProtocolId::FTP));

    // NNTP's 230 is followed by the list it announces.
    Flow nntp = Flow::mid_stream();
    nntp.send(false, "230 list of new articles by message-id follows\r\n<a1@example.com>\r\n");
    nntp.detector->finish(nntp.session);
    EXPECT_FALSE(nntp.has(ProtocolId::FTP));

    // A reply that the client's side answered is judged by the rules of a whole session.
    Flow answered = Flow::mid_stream();
    answered.send(false, "230 Login successful.\r\n");
    answered.send(true, "HELP\r\n");
    answered.detector->finish(answered.session);
    EXPECT_FALSE(answered.has(ProtocolId::FTP));
}

TEST(FtpDetector, ClientSideOnly) {
    Flow flow = Flow::mid_stream();
    flow.send(true, "USER anonymous\r\n");
    flow.send(true, "PASS guest@example.org\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::FTP));  // POP3 clients send the same two
    flow.send(true, "SYST\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::FTP));
}

TEST(FtpDetector, ServerSideOnly) {
    Flow flow = Flow::mid_stream();
    flow.send(false, "250 CWD command successful.\r\n");  // SMTP servers send 250 too
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
    flow.send(false, "331 Anonymous login ok, send your email address as your password.\r\n");
    EXPECT_TRUE(flow.has(ProtocolId::FTP));
}

// A news server greets with 200 or 201 and takes commands that FTP has too (MODE, LIST).
// With its start seen, a session whose first reply is no FTP greeting is not FTP.
TEST(FtpDetector, NntpSessionIsNotFtp) {
    Flow flow;
    flow.send(false, "200 news.example.com InterNetNews NNRP server INN 2.7 ready\r\n");
    flow.send(true, "MODE READER\r\n");
    flow.send(false, "200 Posting allowed\r\n");
    flow.send(true, "LIST ACTIVE\r\n");
    flow.send(false, "215 Newsgroups in form \"group high low status\"\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
    EXPECT_EQ(flow.last, Verdict::kNotMine);
}

// Seen mid-stream, NNTP's MODE READER and LIST with their replies are no FTP session.
TEST(FtpDetector, NntpMidStreamIsNotFtp) {
    Flow flow = Flow::mid_stream();
    flow.send(true, "MODE READER\r\n");
    flow.send(false, "200 Posting allowed\r\n");
    flow.send(true, "LIST\r\n");
    flow.send(false, "215 list of newsgroups follows\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
    // FTP's own MODE argument still shows FTP.
    Flow ftp = Flow::mid_stream();
    ftp.send(true, "MODE S\r\n");
    ftp.send(false, "200 Mode set to S.\r\n");
    EXPECT_TRUE(ftp.has(ProtocolId::FTP));
}

TEST(FtpDetector, SmtpRepliesWithoutAGreetingAreNotFtp) {
    Flow flow;
    flow.send(false, "250 2.1.0 Ok\r\n");
    flow.send(false, "354 End data with <CR><LF>.<CR><LF>\r\n");
    flow.send(false, "221 2.0.0 Bye\r\n");
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
}

TEST(FtpDetector, SmtpAndPop3AreNotFtp) {
    Flow smtp;
    smtp.send(false, "220 mx.example.com ESMTP Postfix\r\n");
    EXPECT_EQ(smtp.last, Verdict::kNotMine);
    Flow pop3;
    EXPECT_EQ(pop3.send(false, "+OK POP3 ready\r\n"), Verdict::kNotMine);
    Flow http;
    EXPECT_EQ(http.send(true, "GET / HTTP/1.1\r\n"), Verdict::kNotMine);
}

TEST(FtpDetector, PassiveReplyAnnouncesDataConnection) {
    Flow flow = logged_in();
    flow.send(true, "PASV\r\n");
    flow.send(false, "227 Entering Passive Mode (198,51,100,20,195,80).\r\n");
    std::vector<ExpectedFlow> expected = flow.session.take_expected();
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(expected[0].client, kClient);
    EXPECT_EQ(expected[0].server, kServer);
    EXPECT_EQ(expected[0].server_port, 195 * 256 + 80);
    EXPECT_EQ(expected[0].protocol, ProtocolId::FTP_DATA);
}

TEST(FtpDetector, PassiveReplyBehindNat) {
    Flow flow = logged_in();
    flow.send(false, "227 Entering Passive Mode (10,0,0,5,4,1)\r\n");
    std::vector<ExpectedFlow> expected = flow.session.take_expected();
    ASSERT_EQ(expected.size(), 2u);
    EXPECT_EQ(expected[0].server, v4(10, 0, 0, 5));
    EXPECT_EQ(expected[1].server, kServer);
    EXPECT_EQ(expected[1].server_port, 1025);
}

TEST(FtpDetector, ExtendedPassiveReply) {
    Flow flow = logged_in();
    flow.send(false, "229 Entering Extended Passive Mode (|||6446|)\r\n");
    std::vector<ExpectedFlow> expected = flow.session.take_expected();
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(expected[0].client, kClient);
    EXPECT_EQ(expected[0].server, kServer);
    EXPECT_EQ(expected[0].server_port, 6446);
}

TEST(FtpDetector, PortCommandAnnouncesActiveConnection) {
    Flow flow = logged_in();
    flow.send(true, "PORT 192,0,2,10,7,138\r\n");
    std::vector<ExpectedFlow> expected = flow.session.take_expected();
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_EQ(expected[0].client, kServer);  // the server connects back
    EXPECT_EQ(expected[0].server, kClient);
    EXPECT_EQ(expected[0].server_port, 7 * 256 + 138);
}

TEST(FtpDetector, ExtendedPortCommand) {
    Flow flow = logged_in();
    flow.send(true, "EPRT |2|2001:db8::1|5282|\r\n");
    std::vector<ExpectedFlow> expected = flow.session.take_expected();
    ASSERT_EQ(expected.size(), 1u);
    EXPECT_TRUE(expected[0].server.is_v6);
    EXPECT_EQ(expected[0].server.bytes[0], 0x20);
    EXPECT_EQ(expected[0].server.bytes[15], 0x01);
    EXPECT_EQ(expected[0].server_port, 5282);
}

TEST(FtpDetector, MalformedAnnouncementsAreIgnored) {
    Flow flow = logged_in();
    for (const char* line :
         {"PORT 192,0,2,10,7\r\n", "PORT 300,0,2,10,7,1\r\n", "PORT 192,0,2,10,0,0\r\n",
          "EPRT |3|host|21|\r\n", "EPRT |1|192.0.2.10|99999|\r\n", "EPRT ||\r\n"}) {
        flow.send(true, line);
    }
    for (const char* line : {"227 Entering Passive Mode\r\n", "229 Extended (|||)\r\n",
                             "229 Extended (|x|6446|)\r\n", "229 (\r\n"}) {
        flow.send(false, line);
    }
    EXPECT_TRUE(flow.session.take_expected().empty());
}

TEST(FtpDetector, AuthTlsOpensInnerLayer) {
    Flow flow;
    flow.send(false, "220 FTP server ready\r\n");
    flow.send(true, "AUTH TLS\r\n");
    EXPECT_EQ(flow.send(false, "234 AUTH TLS successful\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
    EXPECT_TRUE(flow.has(ProtocolId::FTP));
}

TEST(FtpDetector, DataConnectionFileType) {
    Flow flow(20, 40000);
    flow.session.add(ProtocolId::FTP_DATA);
    std::string png = "\x89PNG\r\n\x1a\n";
    // IHDR: length 13, a 16 x 16 image of 8-bit RGBA.
    png += "\0\0\0\x0dIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0"s;
    png += std::string(200, '\x42');
    EXPECT_EQ(flow.send(false, png), Verdict::kContinue);
    flow.detector->finish(flow.session);
    EXPECT_TRUE(flow.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(flow.has(ProtocolId::FTP));
}

TEST(FtpDetector, ClassifiedByAnotherDetector) {
    Flow flow;
    flow.session.add(ProtocolId::HTTP);
    EXPECT_EQ(flow.send(false, "220 FTP ready\r\n"), Verdict::kNotMine);
}

TEST(FtpDetector, RandomTextDoesNotCrash) {
    std::mt19937 random(13);
    const std::string alphabet = "0123456789,|()PORTEPSVAUTH 227 229\r\n:.\xff";
    for (int round = 0; round < 1000; ++round) {
        std::string data(random() % 200, ' ');
        for (char& c : data) c = alphabet[random() % alphabet.size()];
        Flow flow = logged_in();
        flow.send(true, "PORT " + data + "\r\n");
        flow.send(true, "EPRT " + data + "\r\n");
        flow.send(false, "227 " + data + "\r\n");
        flow.send(false, "229 " + data + "\r\n");
        flow.send(false, data);
    }
}

}  // namespace
}  // namespace pw::detect
