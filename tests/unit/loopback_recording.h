// Recording real traffic on the loopback interface for the detectors' live tests: a script
// runs clients and servers while tcpdump records, and protowatch analyzes the capture.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace pw::loopback {

// Protocol names that protowatch gives each flow of a loopback recording, by the flow's two
// ports, lower first.
using FlowNames = std::map<std::pair<int, int>, std::set<std::string>>;

inline bool installed(const char* program) { return access(program, X_OK) == 0; }

// A loopback port for this test process, so that parallel runs do not collide.
inline int live_port(int offset) { return 20000 + static_cast<int>(getpid() % 20000) + offset; }

inline FlowNames analyze_recording(const std::filesystem::path& capture) {
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
inline FlowNames record_loopback(const std::string& script, const std::string& filter) {
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
inline constexpr const char* kInetd = R"(cat > inetd.py <<'PY'
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
inline constexpr const char* kWaitForInetd =
    "for i in $(seq 100); do test -e inetd.ready && break; sleep 0.1; done\n";

}  // namespace pw::loopback
