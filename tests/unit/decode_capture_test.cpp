// The decoder on real captures: one recorded on the loopback interface while the test
// runs, and (when the shared corpus is beside the repository) corpus captures of each
// link type and tunnel, checked against counts taken from Wireshark.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>

#include "decode/decoder.h"

namespace pw::decode {
namespace {

namespace fs = std::filesystem;

// --- A capture recorded on loopback ---------------------------------------------------

constexpr size_t kRequestBytes = 300;
constexpr size_t kResponseBytes = 200'000;
const size_t kDatagramSizes[] = {10, 100, 1000};

struct Sockets {
    int listener = -1;
    int receiver = -1;
    uint16_t tcp_port = 0;
    uint16_t udp_port = 0;
    ~Sockets() {
        if (listener >= 0) close(listener);
        if (receiver >= 0) close(receiver);
    }
};

uint16_t bind_loopback(int fd) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return 0;
    socklen_t length = sizeof(address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

bool open_sockets(Sockets& sockets) {
    sockets.listener = socket(AF_INET, SOCK_STREAM, 0);
    sockets.receiver = socket(AF_INET, SOCK_DGRAM, 0);
    if (sockets.listener < 0 || sockets.receiver < 0) return false;
    sockets.tcp_port = bind_loopback(sockets.listener);
    sockets.udp_port = bind_loopback(sockets.receiver);
    return sockets.tcp_port != 0 && sockets.udp_port != 0 && listen(sockets.listener, 1) == 0;
}

// An HTTP-like exchange on TCP and three UDP datagrams, all on 127.0.0.1.
void make_traffic(const Sockets& sockets) {
    std::thread server([&sockets] {
        int connection = accept(sockets.listener, nullptr, nullptr);
        if (connection < 0) return;
        std::vector<char> buffer(kRequestBytes);
        size_t received = 0;
        while (received < kRequestBytes) {
            ssize_t n = read(connection, buffer.data() + received, kRequestBytes - received);
            if (n <= 0) break;
            received += static_cast<size_t>(n);
        }
        std::string response(kResponseBytes, 'r');
        size_t sent = 0;
        while (sent < response.size()) {
            ssize_t n = write(connection, response.data() + sent, response.size() - sent);
            if (n <= 0) break;
            sent += static_cast<size_t>(n);
        }
        close(connection);
    });

    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(sockets.tcp_port);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
        std::string request(kRequestBytes, 'q');
        (void)!write(client, request.data(), request.size());
        char buffer[65536];
        while (read(client, buffer, sizeof(buffer)) > 0) {
        }
    }
    close(client);
    server.join();

    int sender = socket(AF_INET, SOCK_DGRAM, 0);
    address.sin_port = htons(sockets.udp_port);
    for (size_t size : kDatagramSizes) {
        std::string datagram(size, 'u');
        sendto(sender, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&address),
               sizeof(address));
    }
    close(sender);
}

void dump_packet(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
    pcap_dump(user, header, bytes);
}

// Records the traffic on `device` with link type `datalink` (-1: the device's) into
// `path`. Returns why it could not, or an empty string.
std::string record(const char* device, int datalink, const fs::path& path, const Sockets& sockets) {
    char error[PCAP_ERRBUF_SIZE] = {};
    pcap_t* pcap = pcap_create(device, error);
    if (pcap == nullptr) return error;
    pcap_set_snaplen(pcap, 262144);
    pcap_set_immediate_mode(pcap, 1);
    pcap_set_buffer_size(pcap, 16 * 1024 * 1024);
    pcap_set_timeout(pcap, 10);
    if (pcap_activate(pcap) < 0) {
        std::string why = pcap_geterr(pcap);
        pcap_close(pcap);
        return "cannot capture on " + std::string(device) + ": " + why;
    }
    if (datalink >= 0 && pcap_set_datalink(pcap, datalink) != 0) {
        pcap_close(pcap);
        return "link type " + std::to_string(datalink) + " not offered";
    }
    std::string filter = "host 127.0.0.1 and (tcp port " + std::to_string(sockets.tcp_port) +
                         " or udp port " + std::to_string(sockets.udp_port) + ")";
    bpf_program program{};
    if (pcap_compile(pcap, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0 ||
        pcap_setfilter(pcap, &program) != 0) {
        pcap_close(pcap);
        return "cannot set the filter";
    }
    pcap_freecode(&program);
    pcap_setnonblock(pcap, 1, error);
    pcap_dumper_t* dumper = pcap_dump_open(pcap, path.c_str());

    make_traffic(sockets);

    // Drain what the kernel buffered until nothing has come for a while.
    auto quiet_since = std::chrono::steady_clock::now();
    const auto deadline = quiet_since + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline &&
           std::chrono::steady_clock::now() - quiet_since < std::chrono::milliseconds(300)) {
        int n = pcap_dispatch(pcap, -1, dump_packet, reinterpret_cast<u_char*>(dumper));
        if (n > 0) {
            quiet_since = std::chrono::steady_clock::now();
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    pcap_dump_close(dumper);
    pcap_close(pcap);
    return {};
}

// The TCP payload one side sent, as [begin, end) ranges of sequence numbers relative to
// its SYN: a loaded machine can retransmit even on loopback, so bytes are counted once.
struct Stream {
    std::map<uint32_t, uint32_t> ranges;  // relative begin -> end
    uint32_t initial = 0;
    bool have_syn = false;

    void add(const Packet& packet) {
        if (packet.tcp_flags & tcp_flag::kSyn) {
            initial = packet.seq + 1;
            have_syn = true;
        }
        if (packet.payload_length == 0) return;
        const uint32_t begin = packet.seq - initial;
        uint32_t& end = ranges[begin];
        end = std::max(end, begin + packet.payload_length);
    }
    uint64_t bytes() const {
        uint64_t total = 0;
        uint32_t covered = 0;
        for (const auto& [begin, end] : ranges) {
            if (end <= covered) continue;
            total += end - std::max(begin, covered);
            covered = end;
        }
        return total;
    }
};

struct LoopbackResult {
    int linktype = -1;
    size_t frames = 0;
    size_t packets = 0;
    Stream request;   // client to server
    Stream response;  // server to client
    std::set<uint8_t> client_flags, server_flags;
    std::multiset<uint32_t> datagrams;
};

LoopbackResult decode_file(const fs::path& path, const Sockets& sockets) {
    LoopbackResult result;
    char error[PCAP_ERRBUF_SIZE] = {};
    pcap_t* pcap = pcap_open_offline(path.c_str(), error);
    EXPECT_NE(pcap, nullptr) << error;
    if (pcap == nullptr) return result;
    result.linktype = pcap_datalink(pcap);
    Decoder decoder;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const IpAddress loopback = IpAddress::v4(std::array<uint8_t, 4>{127, 0, 0, 1}.data());
    while (pcap_next_ex(pcap, &header, &data) == 1) {
        ++result.frames;
        Packet packet;
        DecodeResult decoded = decoder.decode(result.linktype, {data, header->caplen}, header->len,
                                              header->ts.tv_sec * 1'000'000LL, packet);
        EXPECT_EQ(decoded, DecodeResult::kPacket) << "frame " << result.frames;
        if (decoded != DecodeResult::kPacket) continue;
        ++result.packets;
        EXPECT_EQ(packet.source, loopback);
        EXPECT_EQ(packet.target, loopback);
        EXPECT_EQ(packet.payload.size(), packet.payload_length);
        if (packet.ip_protocol == ip_protocol::kTcp) {
            if (packet.target_port == sockets.tcp_port) {
                result.request.add(packet);
                result.client_flags.insert(packet.tcp_flags & (tcp_flag::kSyn | tcp_flag::kFin));
            } else {
                EXPECT_EQ(packet.source_port, sockets.tcp_port);
                result.response.add(packet);
                result.server_flags.insert(packet.tcp_flags & (tcp_flag::kSyn | tcp_flag::kFin));
            }
        } else {
            EXPECT_EQ(packet.ip_protocol, ip_protocol::kUdp);
            EXPECT_EQ(packet.target_port, sockets.udp_port);
            result.datagrams.insert(packet.payload_length);
        }
    }
    pcap_close(pcap);
    EXPECT_EQ(decoder.anomalies().total(), 0u);
    return result;
}

void run_loopback(const char* device, int datalink, int expected_linktype) {
    Sockets sockets;
    if (!open_sockets(sockets)) GTEST_SKIP() << "no loopback sockets";
    const fs::path dir =
        fs::temp_directory_path() /
        ("protowatch-decode-" + std::to_string(getpid()) + "-" + std::to_string(expected_linktype));
    fs::create_directories(dir);
    const fs::path path = dir / "loopback.pcap";
    const std::string why = record(device, datalink, path, sockets);
    if (!why.empty()) {
        fs::remove_all(dir);
        GTEST_SKIP() << why;
    }
    const LoopbackResult result = decode_file(path, sockets);
    fs::remove_all(dir);

    EXPECT_EQ(result.linktype, expected_linktype);
    EXPECT_GE(result.frames, 10u);
    EXPECT_EQ(result.packets, result.frames);
    EXPECT_TRUE(result.request.have_syn && result.response.have_syn);
    EXPECT_EQ(result.request.bytes(), kRequestBytes);
    EXPECT_EQ(result.response.bytes(), kResponseBytes);
    EXPECT_TRUE(result.client_flags.count(tcp_flag::kSyn));
    EXPECT_TRUE(result.client_flags.count(tcp_flag::kFin));
    EXPECT_TRUE(result.server_flags.count(tcp_flag::kSyn));
    EXPECT_TRUE(result.server_flags.count(tcp_flag::kFin));
    EXPECT_EQ(result.datagrams, (std::multiset<uint32_t>{10, 100, 1000}));
}

TEST(DecodeCapture, RecordedOnLoopback) { run_loopback("lo", -1, DLT_EN10MB); }

TEST(DecodeCapture, RecordedOnAnyAsLinuxCookedV2) {
    run_loopback("any", DLT_LINUX_SLL2, DLT_LINUX_SLL2);
}

// --- The shared corpus ----------------------------------------------------------------

fs::path corpus_dir() {
    if (const char* dir = std::getenv("PROTOWATCH_CORPUS")) return dir;
    return fs::path(PROTOWATCH_SOURCE_DIR) / ".." / "shared" / "corpus";
}

struct FlowCount {
    uint64_t packets[2] = {};
    uint64_t bytes[2] = {};
};
using Endpoint = std::pair<std::string, uint16_t>;
using FlowKey = std::tuple<int, Endpoint, Endpoint>;

struct CaptureResult {
    bool opened = false;
    size_t frames = 0;
    size_t packets = 0;
    std::map<FlowKey, FlowCount> flows;  // endpoints in order, direction 0 = first to second
};

CaptureResult decode_capture(const fs::path& path) {
    CaptureResult result;
    char error[PCAP_ERRBUF_SIZE] = {};
    pcap_t* pcap = pcap_open_offline(path.c_str(), error);
    if (pcap == nullptr) return result;
    result.opened = true;
    const int linktype = pcap_datalink(pcap);
    Decoder decoder;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(pcap, &header, &data) == 1) {
        ++result.frames;
        Packet packet;
        const int64_t time_us = header->ts.tv_sec * 1'000'000LL + header->ts.tv_usec;
        if (decoder.decode(linktype, {data, header->caplen}, header->len, time_us, packet) !=
            DecodeResult::kPacket) {
            continue;
        }
        ++result.packets;
        Endpoint a{packet.source.to_string(), packet.source_port};
        Endpoint b{packet.target.to_string(), packet.target_port};
        int direction = 0;
        if (b < a) {
            std::swap(a, b);
            direction = 1;
        }
        FlowCount& flow = result.flows[{packet.ip_protocol, a, b}];
        ++flow.packets[direction];
        flow.bytes[direction] += packet.payload_length;
    }
    pcap_close(pcap);
    return result;
}

// Frames and packets of transports (tshark -Y "tcp or udp or icmp or icmpv6 or igmp").
struct LinkTypeCase {
    const char* capture;
    size_t frames;
    size_t packets;
};

TEST(DecodeCorpus, LinkTypesMatchWireshark) {
    const fs::path corpus = corpus_dir();
    if (!fs::exists(corpus / "pcaps")) GTEST_SKIP() << "no corpus at " << corpus;
    const LinkTypeCase cases[] = {
        {"pcaps/suricata-verify/tests__smb-length-5786__input.pcap", 689, 689},    // null
        {"pcaps/extra/arkime__arkime__tests__pcap__tls-alpn-h2.pcap", 9, 9},       // null
        {"pcaps/nDPI/tests__cfgs__default__pcap__psiphon3.pcap", 62, 62},          // raw
        {"pcaps/nDPI/tests__cfgs__default__pcap__bets.pcapng", 33, 33},            // raw
        {"pcaps/nDPI/tests__cfgs__default__pcap__KakaoTalk_chat.pcap", 347, 347},  // SLL
        {"pcaps/nDPI/tests__cfgs__default__pcap__log4j-webapp-exploit.pcap", 426, 422},
        {"pcaps/suricata-verify/tests__decode-sll2-02__input.pcap", 159, 159},  // SLL2
        {"pcaps/zeek/testing__btest__Traces__tls__openjdk-25.0.2-zeek.org.pcap", 6, 6},
        {"pcaps/zeek/testing__btest__Traces__ppp__quic-interop-retry.pcap", 26, 26},  // PPP
        {"pcaps/suricata-verify/tests__decode-chdlc-01__hdlc-http_1tx.pcap", 17, 17},
        {"pcaps/tcpdump/tests__HDLC.pcap", 38, 10},  // C-HDLC
        {"pcaps/nDPI/tests__cfgs__default__pcap__ossfuzz_seed_fake_traces_1.pcapng", 21, 21},
        {"pcaps/zeek/testing__btest__Traces__icmp__icmp6-mldv2.pcap", 5, 5},     // IPv6
        {"pcaps/zeek/testing__btest__Traces__nflog-http.pcap", 13, 13},          // NFLOG
        {"pcaps/nDPI/tests__cfgs__default__pcap__someip_sd_sample.pcap", 6, 6},  // PPI
        {"pcaps/tcpdump/tests__LINKTYPE_PKTAP.pcap", 1, 1},
        {"pcaps/tcpdump/tests__e1000g.pcap", 20, 20},  // IPNET
    };
    size_t checked = 0;
    for (const LinkTypeCase& c : cases) {
        const fs::path path = corpus / c.capture;
        if (!fs::exists(path)) continue;
        CaptureResult result = decode_capture(path);
        ASSERT_TRUE(result.opened) << c.capture;
        EXPECT_EQ(result.frames, c.frames) << c.capture;
        EXPECT_EQ(result.packets, c.packets) << c.capture;
        ++checked;
    }
    EXPECT_GT(checked, 10u);
}

// The flows of cases.tsv for captures of tunnels and unusual link types, with Wireshark's
// packet and payload byte counts each way.
TEST(DecodeCorpus, TunnelFlowsMatchTheReference) {
    const fs::path corpus = corpus_dir();
    std::ifstream cases(corpus / "cases.tsv");
    if (!cases) GTEST_SKIP() << "no corpus at " << corpus;
    const std::set<std::string> captures = {
        "pcaps/nDPI/tests__cfgs__default__pcap__capwap_data.pcapng",
        "pcaps/extra/epiecs__packetlife-backup__pcaps__PPTP_negotiation.cap",
        "pcaps/zeek/testing__btest__Traces__tunnels__gre-within-gre.pcap",
        "pcaps/zeek/testing__btest__Traces__tunnels__gre-sample.pcap",
        "pcaps/zeek/testing__btest__Traces__tunnels__vxlan.pcap",
        "pcaps/zeek/testing__btest__Traces__tunnels__vxlan-encapsulated-http.pcap",
        "pcaps/zeek/testing__btest__Traces__tunnels__geneve-vxlan-dns-truncated.pcap",
        "pcaps/suricata-verify/tests__vxlan-decoder-03__vxlan.pcap",
        "pcaps/suricata-verify/tests__vxlan-non-zero-reserved-fields__input.pcap",
        "pcaps/suricata-verify/tests__decode-erspan-typeII-01__input.pcap",
        "pcaps/tcpdump/tests__erspan-type-iii-ft-0.pcap",
        "pcaps/zeek/testing__btest__Traces__erspanI.pcap",
        "pcaps/nDPI/tests__cfgs__default__pcap__ja3_lots_of_cipher_suites_2_anon.pcap",  // GTP
        "pcaps/nDPI/tests__cfgs__default__pcap__gre.pcapng",
        "pcaps/tcpdump/tests__various_gre.pcap",
        "pcaps/zeek/testing__btest__Traces__tunnels__ayiya3.pcap",
        "pcaps/zeek/testing__btest__Traces__pppoe-over-qinq.pcap",
        "pcaps/nDPI/tests__cfgs__default__pcap__badpackets.pcap",
        "pcaps/suricata-verify/tests__decode-sll2-01__input.pcap",
        "pcaps/tcpdump/tests__arcnet-rfc1201-arp-icmp-http.pcap",
    };
    std::map<std::string, CaptureResult> decoded;
    std::string line;
    std::getline(cases, line);
    size_t checked = 0;
    while (std::getline(cases, line)) {
        std::vector<std::string> field;
        std::stringstream stream(line);
        for (std::string item; std::getline(stream, item, '\t');) field.push_back(item);
        if (field.size() < 13 || !captures.count(field[0]) || field[9].empty()) continue;
        if (!decoded.count(field[0])) decoded[field[0]] = decode_capture(corpus / field[0]);
        const CaptureResult& result = decoded[field[0]];
        if (!result.opened) continue;

        Endpoint a{field[2], static_cast<uint16_t>(std::stoi(field[3]))};
        Endpoint b{field[4], static_cast<uint16_t>(std::stoi(field[5]))};
        const bool swapped = b < a;
        if (swapped) std::swap(a, b);
        auto flow = result.flows.find({std::stoi(field[1]), a, b});
        ASSERT_NE(flow, result.flows.end()) << line;
        const int ab = swapped ? 1 : 0;
        EXPECT_EQ(flow->second.packets[ab], std::stoull(field[9])) << line;
        EXPECT_EQ(flow->second.packets[1 - ab], std::stoull(field[10])) << line;
        EXPECT_EQ(flow->second.bytes[ab], std::stoull(field[11])) << line;
        EXPECT_EQ(flow->second.bytes[1 - ab], std::stoull(field[12])) << line;
        ++checked;
    }
    EXPECT_GT(checked, 100u);
}

}  // namespace
}  // namespace pw::decode
