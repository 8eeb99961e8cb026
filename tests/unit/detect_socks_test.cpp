// SOCKS 4, 4a and 5 detection, with handshakes built from the SOCKS 4 protocol note,
// RFC 1928 and RFC 1929, and a live Dante proxy with curl when both are installed.

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
#include "detect/socks.h"

namespace pw::detect {

std::unique_ptr<Detector> make_socks_detector();

namespace {

using namespace std::string_literals;
using socks::Parsed;

std::span<const uint8_t> bytes(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

struct Flow {
    Session session;
    std::unique_ptr<Detector> detector = make_socks_detector();
    Verdict last = Verdict::kContinue;

    Flow() : session(Transport::kTcp, address(10), 50000, address(20), 1080) {}

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

const std::string kConnect4 =
    "\x04\x01\x00\x50\xc0\x00\x02\x63"
    "alice\0"s;
const std::string kConnect4a = "\x04\x01\x01\xbb\x00\x00\x00\x01\0www.example.com\0"s;
const std::string kGranted4 = "\x00\x5a\x00\x00\x00\x00\x00\x00"s;
const std::string kConnect5 = "\x05\x01\x00\x03\x0bwww.example\x00\x50"s;
const std::string kSucceeded5 = "\x05\x00\x00\x01\xc0\x00\x02\x01\x10\x00"s;

TEST(SocksParse, Socks4Request) {
    auto request = socks::parse_socks4_request(bytes(kConnect4));
    EXPECT_EQ(request.status, Parsed::kComplete);
    EXPECT_EQ(request.length, kConnect4.size());
    EXPECT_EQ(socks::parse_socks4_request(bytes(kConnect4a)).length, kConnect4a.size());
}

TEST(SocksParse, Socks4aNeedsHostName) {
    auto request = socks::parse_socks4_request(bytes("\x04\x01\x01\xbb\x00\x00\x00\x01\0"s));
    EXPECT_EQ(request.status, Parsed::kIncomplete);
}

TEST(SocksParse, Socks4BadCommandInvalid) {
    EXPECT_EQ(socks::parse_socks4_request(bytes("\x04\x07\x00\x50\x01\x02\x03\x04\0"s)).status,
              Parsed::kInvalid);
}

TEST(SocksParse, Socks5Records) {
    EXPECT_EQ(socks::parse_socks5_greeting(bytes("\x05\x02\x00\x02"s)).length, 4u);
    EXPECT_EQ(socks::parse_socks5_request(bytes(kConnect5)).length, kConnect5.size());
    EXPECT_EQ(socks::parse_socks5_reply(bytes(kSucceeded5)).length, kSucceeded5.size());
    auto ipv6 = "\x05\x01\x00\x04"s + std::string(16, '\x01') + "\x01\xbb"s;
    EXPECT_EQ(socks::parse_socks5_request(bytes(ipv6)).length, ipv6.size());
}

TEST(SocksParse, Socks5Invalid) {
    EXPECT_EQ(socks::parse_socks5_greeting(bytes("\x05\x00"s)).status, Parsed::kInvalid);
    EXPECT_EQ(socks::parse_socks5_greeting(bytes("\x05\x01\xff"s)).status, Parsed::kInvalid);
    EXPECT_EQ(socks::parse_socks5_request(bytes("\x05\x01\x01\x01"s)).status, Parsed::kInvalid);
    EXPECT_EQ(socks::parse_socks5_request(bytes("\x05\x01\x00\x02"s)).status, Parsed::kInvalid);
}

TEST(SocksParse, PasswordRequest) {
    auto request =
        socks::parse_password_request(bytes("\x01\x03"
                                            "bob\x05"
                                            "alice"s));
    EXPECT_EQ(request.status, Parsed::kComplete);
    EXPECT_EQ(request.length, 11u);
}

TEST(Socks, Socks4ConnectOpensTunnel) {
    Flow flow;
    EXPECT_EQ(flow.send(true, kConnect4), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, kGranted4), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::SOCKS));
    EXPECT_TRUE(flow.session.take_inner_layer());
}

TEST(Socks, Socks4RejectedNoTunnel) {
    Flow flow;
    flow.send(true, kConnect4a);
    EXPECT_EQ(flow.send(false, "\x00\x5b\x00\x00\x00\x00\x00\x00"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::SOCKS));
    EXPECT_FALSE(flow.session.take_inner_layer());
}

TEST(Socks, Socks5NoAuthentication) {
    Flow flow;
    EXPECT_EQ(flow.send(true, "\x05\x01\x00"s), Verdict::kContinue);
    EXPECT_EQ(flow.send(false, "\x05\x00"s), Verdict::kContinue);
    EXPECT_TRUE(flow.session.has(ProtocolId::SOCKS5));
    EXPECT_EQ(flow.send(true, kConnect5), Verdict::kContinue);
    EXPECT_FALSE(flow.session.take_inner_layer());
    EXPECT_EQ(flow.send(false, kSucceeded5), Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
}

TEST(Socks, Socks5Password) {
    Flow flow;
    flow.send(true, "\x05\x02\x00\x02"s);
    flow.send(false, "\x05\x02"s);
    flow.send(true,
              "\x01\x03"
              "bob\x05"
              "alice"s);
    flow.send(false, "\x01\x00"s);
    flow.send(true, kConnect5);
    EXPECT_EQ(flow.send(false, kSucceeded5), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::SOCKS5));
    EXPECT_TRUE(flow.session.take_inner_layer());
}

TEST(Socks, Socks5PasswordRefused) {
    Flow flow;
    flow.send(true, "\x05\x01\x02"s);
    flow.send(false, "\x05\x02"s);
    flow.send(true,
              "\x01\x03"
              "bob\x03"
              "bad"s);
    EXPECT_EQ(flow.send(false, "\x01\x01"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::SOCKS5));
    EXPECT_FALSE(flow.session.take_inner_layer());
}

TEST(Socks, Socks5NoAcceptableMethod) {
    Flow flow;
    flow.send(true, "\x05\x02\x00\x01"s);
    EXPECT_EQ(flow.send(false, "\x05\xff"s), Verdict::kDone);
    EXPECT_TRUE(flow.session.has(ProtocolId::SOCKS5));
}

TEST(Socks, MethodNotOfferedRejected) {
    Flow flow;
    flow.send(true, "\x05\x01\x00"s);
    EXPECT_EQ(flow.send(false, "\x05\x02"s), Verdict::kNotMine);
    EXPECT_TRUE(flow.session.protocols().empty());
}

TEST(Socks, BindWaitsForSecondReply) {
    Flow flow;
    flow.send(true, "\x05\x01\x00"s);
    flow.send(false, "\x05\x00"s);
    flow.send(true, "\x05\x02\x00\x01\xc0\x00\x02\x07\x00\x15"s);
    EXPECT_EQ(flow.send(false, kSucceeded5), Verdict::kContinue);
    EXPECT_FALSE(flow.session.take_inner_layer());
    EXPECT_EQ(flow.send(false, kSucceeded5), Verdict::kDone);
    EXPECT_TRUE(flow.session.take_inner_layer());
}

TEST(Socks, ServerFirstRejected) {
    Flow flow;
    EXPECT_EQ(flow.send(false, "\x05\x00"s), Verdict::kNotMine);
}

TEST(Socks, OtherDetectorsFlowRejected) {
    Flow flow;
    flow.session.add(ProtocolId::HTTP);
    EXPECT_EQ(flow.send(true, "\x05\x01\x00"s), Verdict::kNotMine);
}

using namespace pw::loopback;

TEST(SocksLive, DanteWithCurl) {
    if (!installed("/usr/sbin/danted") || !installed("/usr/bin/curl") ||
        !installed("/usr/bin/tcpdump")) {
        GTEST_SKIP() << "needs dante-server, curl and tcpdump";
    }
    const std::string proxy = std::to_string(live_port(1080));
    const std::string web = std::to_string(live_port(1081));
    // A proxy without authentication that relays only between loopback addresses, and a
    // web server behind it.
    const std::string script =
        "cat > danted.conf <<EOF\n"
        "logoutput: stderr\ninternal: 127.0.0.1 port = " +
        proxy +
        "\nexternal: 127.0.0.1\n"
        "socksmethod: none\nclientmethod: none\n"
        "user.privileged: root\nuser.unprivileged: nobody\n"
        "client pass { from: 127.0.0.0/8 to: 127.0.0.0/8 }\n"
        "socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 command: connect }\nEOF\n"
        "mkdir site && echo '<html><body><p>hello</p></body></html>' > site/index.html\n"
        "/usr/sbin/danted -f danted.conf 2>danted.log & proxy=$!\n"
        "python3 -m http.server " +
        web +
        " --bind 127.0.0.1 --directory site & web=$!\n"
        "for i in $(seq 100); do grep -q running danted.log && curl -s -o /dev/null "
        "http://127.0.0.1:" +
        web +
        "/ && break; sleep 0.1; done\n"
        "for version in socks4 socks5 socks5-hostname; do\n"
        "  curl -s --max-time 5 --$version 127.0.0.1:" +
        proxy + " http://127.0.0.1:" + web +
        "/index.html\ndone\n"
        "kill $proxy $web";
    FlowNames flows = record_loopback(script, "tcp port " + proxy);
    if (flows.empty()) GTEST_SKIP() << "nothing was recorded on the loopback interface";

    int socks4 = 0;
    int socks5 = 0;
    for (const auto& [ports, names] : flows) {
        socks4 += names.count("SOCKS") ? 1 : 0;
        socks5 += names.count("SOCKS5") ? 1 : 0;
        // The tunnelled request is identified as well.
        EXPECT_TRUE(names.count("HTTP")) << ports.first << "-" << ports.second;
    }
    EXPECT_EQ(socks4, 1);
    EXPECT_EQ(socks5, 2);
}

}  // namespace
}  // namespace pw::detect
