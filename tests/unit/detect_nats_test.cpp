// NATS detection, with protocol lines built from the NATS client protocol documentation and
// a live exchange with nats-server on loopback when it is installed.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "detect/nats.h"

namespace pw::detect {
namespace {

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

NatsLine classify(const std::string& text) { return classify_nats(bytes(text)); }

const std::string kInfo =
    "INFO {\"server_id\":\"NDKX\",\"server_name\":\"n1\",\"version\":\"2.10.1\","
    "\"proto\":1,\"host\":\"0.0.0.0\",\"port\":4222,\"max_payload\":1048576} \r\n";
const std::string kConnect =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"go\",\"version\":\"1.31\","
    "\"protocol\":1}\r\n";

TEST(NatsLine, ServerAndClientGreetings) {
    EXPECT_EQ(classify(kInfo), NatsLine::kMessage);
    EXPECT_EQ(classify(kConnect), NatsLine::kMessage);
    EXPECT_EQ(classify(kConnect + "PING\r\n"), NatsLine::kMessage);
}

TEST(NatsLine, GreetingsWithoutTheirKeys) {
    EXPECT_EQ(classify("INFO {\"name\":\"x\"}\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("INFO\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("INFO server_id\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("CONNECT {\"name\":\"x\"}\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("CONNECT example.com:443 HTTP/1.1\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify(kInfo.substr(0, kInfo.size() - 2)), NatsLine::kNone);
}

TEST(NatsLine, Publications) {
    EXPECT_EQ(classify("PUB welcome.msg 9\r\nHi there!\r\n"), NatsLine::kMessage);
    EXPECT_EQ(classify("PUB a.b _INBOX.x 2\r\nhi\r\n"), NatsLine::kMessage);
    EXPECT_EQ(classify("MSG a.b 1 5\r\nhello\r\n"), NatsLine::kMessage);
    EXPECT_EQ(classify("MSG a.b 1 _INBOX.y 0\r\n\r\n"), NatsLine::kMessage);
    EXPECT_EQ(classify("HPUB a 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), NatsLine::kMessage);
}

TEST(NatsLine, InconsistentPublications) {
    EXPECT_EQ(classify("PUB a.b 4\r\nHi there\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("PUB a.b x\r\nHi\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("PUB .a 2\r\nHi\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("MSG a.b sid 2\r\nHi\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("HPUB a 20 14\r\nNATS/1.0\r\n\r\nhi\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("PUB a b c d 2\r\nHi\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("PUB a.b 100\r\nstart"), NatsLine::kInconclusive);
}

// A client that sets one option, as one typed by hand does, decides nothing by its CONNECT
// line, but the lines after it in the segment still count.
TEST(NatsLine, ShortConnectReadsOn) {
    const std::string connect = "CONNECT {\"verbose\":false}\r\n";
    EXPECT_EQ(classify(connect), NatsLine::kInconclusive);
    EXPECT_EQ(classify(connect + "SUB foo 1\r\nPUB foo 5\r\nhello\r\nPING\r\n"),
              NatsLine::kMessage);
    EXPECT_EQ(classify(connect + "SUB foo 1\r\n"), NatsLine::kInconclusive);
    EXPECT_EQ(classify(connect + "PUB foo 5\r\nhell"), NatsLine::kInconclusive);
    EXPECT_EQ(classify(connect + "PUB foo 9\r\nhello\r\n"), NatsLine::kInconclusive);
    EXPECT_EQ(classify("PING\r\nPUB foo 5\r\nhello\r\n"), NatsLine::kMessage);
    // SUB decides nothing and starts no reading on.
    EXPECT_EQ(classify("SUB foo 1\r\nPUB foo 5\r\nhello\r\n"), NatsLine::kNone);
}

TEST(NatsLine, KeepalivesDecideNothing) {
    EXPECT_EQ(classify("PING\r\n"), NatsLine::kInconclusive);
    EXPECT_EQ(classify("PONG\r\n"), NatsLine::kInconclusive);
    EXPECT_EQ(classify("+OK\r\n"), NatsLine::kInconclusive);
    EXPECT_EQ(classify("PING :irc.example.net\r\n"), NatsLine::kNone);
    EXPECT_EQ(classify("+PONG\r\n"), NatsLine::kNone);
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_nats_detector();

    Flow() : session(Transport::kTcp, address(1), 50000, address(2), 4222) {}

    static decode::IpAddress address(uint8_t last) {
        const uint8_t raw[4] = {127, 0, 0, last};
        return decode::IpAddress::v4(raw);
    }

    Verdict send(bool from_client, const std::string& data) {
        return detector->inspect(session, Segment{bytes(data), from_client, 0, nullptr});
    }
};

TEST(NatsDetector, MidStreamPublication) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "PING\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "PONG\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "PUB orders.new 4\r\nabcd\r\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::NATS));
}

// A sender that splits its lines, even between CR and LF, does not hide the protocol.
TEST(NatsDetector, LineSplitAcrossSegments) {
    Flow flow;
    EXPECT_EQ(flow.send(false, "INFO {\"server_id\":\"NABC\",\"version\":\"2.9.11\"}\r"),
              Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "\n"), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::NATS));

    Flow publication;
    EXPECT_EQ(publication.send(true, "PU"), Verdict::kContinue);
    EXPECT_EQ(publication.send(true, "B orders.new 4\r\nab"), Verdict::kContinue);
    EXPECT_TRUE(publication.send(true, "cd\r\n") == Verdict::kDone);
    EXPECT_TRUE(publication.session.has(ProtocolId::NATS));
}

// A client of a server that requires TLS starts the handshake right after INFO (the INFO
// line of nats-server 2.9 with a tls block, shortened).
TEST(NatsDetector, InfoRequiringTlsOpensInnerLayer) {
    Flow tls;
    EXPECT_EQ(tls.send(false,
                       "INFO {\"server_id\":\"NAX3\",\"version\":\"2.9.10\",\"proto\":1,"
                       "\"headers\":true,\"tls_required\":true,\"max_payload\":1048576} \r\n"),
              Verdict::kDone);
    EXPECT_TRUE(tls.session.has(ProtocolId::NATS));
    EXPECT_TRUE(tls.session.take_inner_layer());

    Flow available;
    available.send(false, "INFO {\"server_id\":\"N1\",\"tls_available\": true}\r\n");
    EXPECT_TRUE(available.session.take_inner_layer());

    Flow clear;
    clear.send(false, kInfo);
    EXPECT_TRUE(clear.session.has(ProtocolId::NATS));
    EXPECT_FALSE(clear.session.take_inner_layer());

    Flow disabled;
    disabled.send(false, "INFO {\"server_id\":\"N1\",\"tls_required\":false}\r\n");
    EXPECT_FALSE(disabled.session.take_inner_layer());
}

// A client that sends a short CONNECT before the server's INFO arrives (a client typed by
// hand, as with nc) is found by the INFO.
TEST(NatsDetector, ShortConnectBeforeInfo) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "CONNECT {\"verbose\":false}\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(true, "SUB foo 1\r\n"), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, kInfo), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::NATS));
}

// Text that no NATS line starts with is not kept waiting for its line end.
TEST(NatsDetector, OtherTextNotKept) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "GET / HTTP/1.1"), Verdict::kNotMine);
}

TEST(NatsDetector, KeepalivesAlone) {
    Flow flow;
    Verdict verdict = Verdict::kContinue;
    for (int i = 0; i < 4 && verdict == Verdict::kContinue; ++i)
        verdict = flow.send(true, "PING\r\n");
    EXPECT_EQ(verdict, Verdict::kNotMine);
    EXPECT_FALSE(flow.session.has(ProtocolId::NATS));
}

// Connects to 127.0.0.1:`port`, retrying while the server starts.
int connect_loopback(uint16_t port) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
        close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
}

std::string receive_line(int fd) {
    std::string text;
    char c = 0;
    while (text.size() < 65536 && recv(fd, &c, 1, 0) == 1) {
        text += c;
        if (text.ends_with("\r\n")) break;
    }
    return text;
}

TEST(NatsLive, ServerExchange) {
    const char* server = "/usr/sbin/nats-server";
    if (!std::filesystem::exists(server)) GTEST_SKIP() << "nats-server is not installed";
    uint16_t port = static_cast<uint16_t>(42000 + getpid() % 2000);
    std::string port_text = std::to_string(port);
    pid_t child = fork();
    if (child == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(server, server, "-a", "127.0.0.1", "-p", port_text.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    int fd = connect_loopback(port);
    std::string info = fd >= 0 ? receive_line(fd) : std::string();
    std::string pong;
    if (fd >= 0) {
        std::string hello =
            "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"c\"}\r\n"
            "PUB t.x 2\r\nhi\r\nPING\r\n";
        send(fd, hello.data(), hello.size(), 0);
        pong = receive_line(fd);
        close(fd);
    }
    kill(child, SIGTERM);
    waitpid(child, nullptr, 0);
    ASSERT_FALSE(info.empty()) << "no INFO line from nats-server on port " << port;
    EXPECT_EQ(classify(info), NatsLine::kMessage) << info;
    EXPECT_EQ(pong, "PONG\r\n");

    Flow flow;
    EXPECT_EQ(flow.send(false, info), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::NATS));
}

}  // namespace
}  // namespace pw::detect
