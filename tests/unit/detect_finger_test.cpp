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

// Protocol names that protowatch gives each flow of a loopback recording, by the flow's two
// ports, lower first.
using FlowNames = std::map<std::pair<int, int>, std::set<std::string>>;

bool installed(const char* program) { return access(program, X_OK) == 0; }

// A loopback port for this test process, so that parallel runs do not collide.
int live_port(int offset) { return 20000 + static_cast<int>(getpid() % 20000) + offset; }

FlowNames analyze_recording(const std::filesystem::path& capture) {
    std::string command = std::string(PROTOWATCH_BINARY) +
                          " analyze --json - --no-store --no-progress --quiet '" +
                          capture.string() + "' 2>/dev/null";
    FlowNames flows;
    FILE* output = popen(command.c_str(), "r");
    if (output == nullptr) return flows;
    std::vector<char> line(1 << 16);
    while (std::fgets(line.data(), static_cast<int>(line.size()), output) != nullptr) {
        auto event = nlohmann::json::parse(line.data(), nullptr, false);
        if (!event.is_object() || event.value("type_id", 0) != 8007 || event.value("id", 0) != 3) {
            continue;
        }
        int a = event.value("source_port", 0);
        int b = event.value("target_port", 0);
        auto& names = flows[{std::min(a, b), std::max(a, b)}];
        for (const auto& protocol : event.value("protocols", nlohmann::json::array())) {
            names.insert(protocol.value("name", ""));
        }
    }
    pclose(output);
    return flows;
}

// Runs `script` with bash in a new directory while tcpdump records `filter` on the loopback
// interface, then analyzes the recording. Returns no flows when nothing was recorded.
FlowNames record_loopback(const std::string& script, const std::string& filter) {
    char pattern[] = "/tmp/protowatch-live-XXXXXX";
    if (mkdtemp(pattern) == nullptr) return {};
    const std::filesystem::path dir = pattern;
    std::ofstream run(dir / "run.sh");
    run << "cd '" << dir.string() << "' || exit 1\n";
    run << "tcpdump -i lo --immediate-mode -U -w cap.pcap '" << filter
        << "' 2>tcpdump.log & capture=$!\n";
    run << "for i in $(seq 50); do grep -q listening tcpdump.log && break; sleep 0.1; done\n";
    run << "(\n" << script << "\n) >script.log 2>&1\n";
    run << "sleep 0.5; kill $capture; wait $capture; exit 0\n";
    run.close();
    FlowNames flows;
    if (std::system(("bash '" + (dir / "run.sh").string() + "'").c_str()) == 0) {
        flows = analyze_recording(dir / "cap.pcap");
    }
    std::filesystem::remove_all(dir);
    return flows;
}

// Serves COUNT connections on 127.0.0.1:PORT, each with PROGRAM on the socket as inetd would,
// and creates inetd.ready once it listens.
constexpr const char* kInetd = R"(cat > inetd.py <<'PY'
import socket, subprocess, sys
port, count, program = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(count)
server.settimeout(10)
open("inetd.ready", "w").close()
for _ in range(count):
    connection, _ = server.accept()
    subprocess.run(program, stdin=connection, stdout=connection, stderr=subprocess.DEVNULL,
                   timeout=10)
    connection.close()
PY
)";
// Waits until inetd.py listens.
constexpr const char* kWaitForInetd =
    "for i in $(seq 100); do test -e inetd.ready && break; sleep 0.1; done\n";

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
