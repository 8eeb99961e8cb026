// The fanout program that spreads live capture over the agent's workers: run by a small
// classic BPF interpreter here, and by the kernel on loopback when the test runs as root.

#include "capture/live_fanout.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <vector>

namespace pw::capture {
namespace {

// Runs `program` on a packet with ethertype `protocol` whose network header is `network`,
// with the semantics of the kernel's classic BPF for the instructions the program uses. A
// load outside the packet ends the program with 0, as in the kernel.
uint32_t run(const std::vector<sock_filter>& program, uint16_t protocol,
             std::span<const uint8_t> network) {
    uint32_t a = 0;
    uint32_t x = 0;
    for (size_t pc = 0; pc < program.size(); ++pc) {
        const sock_filter& insn = program[pc];
        switch (insn.code) {
            case BPF_LD | BPF_W | BPF_ABS: {
                auto k = static_cast<int32_t>(insn.k);
                if (k == SKF_AD_OFF + SKF_AD_PROTOCOL) {
                    a = protocol;
                    break;
                }
                int64_t offset = static_cast<int64_t>(k) - SKF_NET_OFF;
                if (k >= 0 || offset < 0 || offset + 4 > static_cast<int64_t>(network.size())) {
                    return 0;
                }
                a = static_cast<uint32_t>(network[offset]) << 24 | network[offset + 1] << 16 |
                    network[offset + 2] << 8 | network[offset + 3];
                break;
            }
            case BPF_MISC | BPF_TAX:
                x = a;
                break;
            case BPF_ALU | BPF_XOR | BPF_X:
                a ^= x;
                break;
            case BPF_ALU | BPF_RSH | BPF_K:
                a >>= insn.k;
                break;
            case BPF_ALU | BPF_MUL | BPF_K:
                a *= insn.k;
                break;
            case BPF_ALU | BPF_MOD | BPF_K:
                a %= insn.k;
                break;
            case BPF_JMP | BPF_JA:
                pc += insn.k;
                break;
            case BPF_JMP | BPF_JEQ | BPF_K:
                pc += a == insn.k ? insn.jt : insn.jf;
                break;
            case BPF_RET | BPF_A:
                return a;
            case BPF_RET | BPF_K:
                return insn.k;
            default:
                ADD_FAILURE() << "instruction " << insn.code << " not interpreted";
                return 0;
        }
    }
    ADD_FAILURE() << "the program ran past its end";
    return 0;
}

std::vector<uint8_t> ipv4_header(uint32_t source, uint32_t target) {
    std::vector<uint8_t> header(20, 0);
    header[0] = 0x45;
    for (int i = 0; i < 4; ++i) {
        header[12 + i] = static_cast<uint8_t>(source >> (24 - 8 * i));
        header[16 + i] = static_cast<uint8_t>(target >> (24 - 8 * i));
    }
    return header;
}

std::vector<uint8_t> ipv6_header(const std::array<uint8_t, 16>& source,
                                 const std::array<uint8_t, 16>& target) {
    std::vector<uint8_t> header(40, 0);
    header[0] = 0x60;
    std::copy(source.begin(), source.end(), header.begin() + 8);
    std::copy(target.begin(), target.end(), header.begin() + 24);
    return header;
}

TEST(LiveFanout, Ipv4PairIsSymmetric) {
    std::mt19937 random(7);
    for (unsigned members : {2u, 3u, 4u, 8u}) {
        std::vector<sock_filter> program = address_pair_fanout_program(members);
        for (int i = 0; i < 500; ++i) {
            uint32_t a = random();
            uint32_t b = random();
            uint32_t forward = run(program, ETH_P_IP, ipv4_header(a, b));
            uint32_t backward = run(program, ETH_P_IP, ipv4_header(b, a));
            EXPECT_EQ(forward, backward);
            EXPECT_LT(forward, members);
        }
    }
}

TEST(LiveFanout, Ipv6PairIsSymmetric) {
    std::mt19937 random(11);
    std::vector<sock_filter> program = address_pair_fanout_program(4);
    for (int i = 0; i < 500; ++i) {
        std::array<uint8_t, 16> a{};
        std::array<uint8_t, 16> b{};
        for (auto& byte : a) byte = static_cast<uint8_t>(random());
        for (auto& byte : b) byte = static_cast<uint8_t>(random());
        uint32_t forward = run(program, ETH_P_IPV6, ipv6_header(a, b));
        EXPECT_EQ(forward, run(program, ETH_P_IPV6, ipv6_header(b, a)));
        EXPECT_LT(forward, 4u);
    }
}

TEST(LiveFanout, NeighbouringHostsSpread) {
    // Clients of one /24 talking to one server: every member gets at least half an even share.
    for (unsigned members : {2u, 4u}) {
        std::vector<sock_filter> program = address_pair_fanout_program(members);
        std::map<uint32_t, int> counts;
        uint32_t server = 0x0a000001;
        for (uint32_t host = 2; host < 256; ++host) {
            ++counts[run(program, ETH_P_IP, ipv4_header(0x0a000100 | host, server))];
        }
        ASSERT_EQ(counts.size(), members);
        for (const auto& [member, count] : counts) {
            EXPECT_GT(count, 254 / static_cast<int>(members) / 2) << "member " << member;
        }
    }
}

TEST(LiveFanout, OtherPacketsGoToFirstMember) {
    std::vector<sock_filter> program = address_pair_fanout_program(4);
    std::vector<uint8_t> arp(28, 0xab);
    EXPECT_EQ(run(program, ETH_P_ARP, arp), 0u);
    // An IPv4 packet too short to hold the addresses.
    std::vector<uint8_t> truncated = ipv4_header(0x01020304, 0x05060708);
    truncated.resize(14);
    EXPECT_EQ(run(program, ETH_P_IP, truncated), 0u);
}

TEST(LiveFanout, ZeroMembersRejected) {
    EXPECT_THROW(address_pair_fanout_program(0), std::invalid_argument);
}

TEST(LiveFanout, KernelAcceptsProgram) {
    // The kernel checks a socket filter with the same rules as a fanout program.
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    ASSERT_GE(fd, 0);
    std::vector<sock_filter> program = address_pair_fanout_program(3);
    sock_fprog fprog{static_cast<unsigned short>(program.size()), program.data()};
    EXPECT_EQ(setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog), 0)
        << std::strerror(errno);
    close(fd);
}

// A packet socket on the loopback interface that receives every packet.
int loopback_packet_socket() {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = static_cast<int>(if_nametoindex("lo"));
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

// The unordered address pair of an IPv4 UDP packet to or from `port`, read from a loopback
// frame (a 14-byte Ethernet header of zeros, then IP).
std::optional<std::pair<uint32_t, uint32_t>> test_pair(std::span<const uint8_t> frame,
                                                       uint16_t port) {
    if (frame.size() < 14 + 28 || frame[12] != 0x08 || frame[13] != 0x00) return std::nullopt;
    const uint8_t* ip = frame.data() + 14;
    if (ip[9] != IPPROTO_UDP) return std::nullopt;
    const uint8_t* udp = ip + (ip[0] & 0x0f) * 4;
    uint16_t source_port = static_cast<uint16_t>(udp[0] << 8 | udp[1]);
    uint16_t target_port = static_cast<uint16_t>(udp[2] << 8 | udp[3]);
    if (source_port != port && target_port != port) return std::nullopt;
    uint32_t source = 0;
    uint32_t target = 0;
    std::memcpy(&source, ip + 12, 4);
    std::memcpy(&target, ip + 16, 4);
    return std::make_pair(std::min(source, target), std::max(source, target));
}

TEST(LiveFanout, KernelKeepsPairsOnOneMember) {
    if (geteuid() != 0) GTEST_SKIP() << "packet sockets need root";
    std::array<int, 2> members{loopback_packet_socket(), loopback_packet_socket()};
    ASSERT_GE(members[0], 0);
    ASSERT_GE(members[1], 0);
    uint16_t group = create_fanout_group(members[0], 2);
    join_fanout_group(members[1], group);

    // Datagrams both ways between 127.0.0.1 and eight other loopback addresses, each with a
    // server bound to it so that its replies come from its own address.
    std::vector<int> servers;
    std::vector<int> clients;
    uint16_t port = 0;
    for (uint32_t host = 2; host < 10; ++host) {
        int server = socket(AF_INET, SOCK_DGRAM, 0);
        sockaddr_in bound{};
        bound.sin_family = AF_INET;
        bound.sin_addr.s_addr = htonl(0x7f000000 | host);
        bound.sin_port = htons(port);
        ASSERT_EQ(bind(server, reinterpret_cast<sockaddr*>(&bound), sizeof bound), 0)
            << std::strerror(errno);
        socklen_t length = sizeof bound;
        getsockname(server, reinterpret_cast<sockaddr*>(&bound), &length);
        port = ntohs(bound.sin_port);  // the others take the first server's port
        servers.push_back(server);
        int client = socket(AF_INET, SOCK_DGRAM, 0);
        clients.push_back(client);
        for (int i = 0; i < 3; ++i) {
            sendto(client, "ping", 4, 0, reinterpret_cast<sockaddr*>(&bound), sizeof bound);
        }
    }
    for (int server : servers) {
        for (int i = 0; i < 3; ++i) {
            pollfd wait{server, POLLIN, 0};
            if (poll(&wait, 1, 1000) <= 0) break;
            sockaddr_in sender{};
            socklen_t sender_length = sizeof sender;
            char data[16];
            ssize_t size = recvfrom(server, data, sizeof data, 0,
                                    reinterpret_cast<sockaddr*>(&sender), &sender_length);
            if (size <= 0) continue;
            sendto(server, data, static_cast<size_t>(size), 0, reinterpret_cast<sockaddr*>(&sender),
                   sender_length);
        }
    }

    std::map<std::pair<uint32_t, uint32_t>, std::set<int>> members_of_pair;
    std::array<int, 2> received{};
    std::array<uint8_t, 2048> frame{};
    for (int round = 0; round < 20; ++round) {
        std::array<pollfd, 2> ready{{{members[0], POLLIN, 0}, {members[1], POLLIN, 0}}};
        if (poll(ready.data(), ready.size(), 100) <= 0) break;
        for (int m = 0; m < 2; ++m) {
            ssize_t size = 0;
            while ((size = recv(members[m], frame.data(), frame.size(), 0)) > 0) {
                auto pair = test_pair({frame.data(), static_cast<size_t>(size)}, port);
                if (!pair) continue;
                members_of_pair[*pair].insert(m);
                ++received[m];
            }
        }
    }
    for (int server : servers) close(server);
    for (int client : clients) close(client);
    close(members[0]);
    close(members[1]);

    EXPECT_EQ(members_of_pair.size(), 8u);
    for (const auto& [pair, seen_by] : members_of_pair) {
        EXPECT_EQ(seen_by.size(), 1u) << "a pair reached both members";
    }
    EXPECT_GT(received[0], 0);
    EXPECT_GT(received[1], 0);
}

}  // namespace
}  // namespace pw::capture
