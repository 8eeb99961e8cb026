#include "capture/live_fanout.h"

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace pw::capture {
namespace {

// Offsets of the source address in the IPv4 (RFC 791) and IPv6 (RFC 8200) headers; the
// destination follows it in both.
constexpr uint32_t kIpv4SourceOffset = 12;
constexpr uint32_t kIpv6SourceOffset = 8;
constexpr uint32_t kIpv4AddressWords = 2;  // source and destination, 4 bytes each
constexpr uint32_t kIpv6AddressWords = 8;
// An odd multiplier with well mixed bits (2^32 divided by the golden ratio), so that address
// pairs that differ in a few bits still spread over the members.
constexpr uint32_t kMixMultiplier = 0x9e3779b1;

sock_filter statement(uint16_t code, uint32_t k) { return {code, 0, 0, k}; }

sock_filter jump(uint16_t code, uint32_t k, size_t if_true, size_t if_false) {
    return {code, static_cast<uint8_t>(if_true), static_cast<uint8_t>(if_false), k};
}

// A = the XOR of `words` 32-bit words from `offset` bytes into the network header. SKF_NET_OFF
// makes the load relative to the network header, wherever the link header ends. A load past
// the end of the packet ends the program with 0, as every classic BPF load does.
std::vector<sock_filter> xor_of_words(uint32_t offset, uint32_t words) {
    std::vector<sock_filter> code;
    code.push_back(statement(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + offset));
    for (uint32_t i = 1; i < words; ++i) {
        code.push_back(statement(BPF_MISC | BPF_TAX, 0));
        code.push_back(statement(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + offset + 4 * i));
        code.push_back(statement(BPF_ALU | BPF_XOR | BPF_X, 0));
    }
    return code;
}

// Folds and multiplies A so that every input bit reaches the low bits that the modulo keeps,
// then returns A modulo `members`.
std::vector<sock_filter> mix_and_return(unsigned members) {
    return {
        statement(BPF_MISC | BPF_TAX, 0),
        statement(BPF_ALU | BPF_RSH | BPF_K, 16),
        statement(BPF_ALU | BPF_XOR | BPF_X, 0),
        statement(BPF_ALU | BPF_MUL | BPF_K, kMixMultiplier),
        statement(BPF_MISC | BPF_TAX, 0),
        statement(BPF_ALU | BPF_RSH | BPF_K, 16),
        statement(BPF_ALU | BPF_XOR | BPF_X, 0),
        statement(BPF_ALU | BPF_MOD | BPF_K, members),
        statement(BPF_RET | BPF_A, 0),
    };
}

void set_fanout(int descriptor, uint32_t value, const char* what) {
    int argument = static_cast<int>(value);
    if (setsockopt(descriptor, SOL_PACKET, PACKET_FANOUT, &argument, sizeof argument) != 0) {
        throw std::system_error(errno, std::generic_category(), what);
    }
}

}  // namespace

std::vector<sock_filter> address_pair_fanout_program(unsigned members) {
    if (members == 0) throw std::invalid_argument("a fanout group needs at least one member");
    std::vector<sock_filter> ipv4 = xor_of_words(kIpv4SourceOffset, kIpv4AddressWords);
    std::vector<sock_filter> ipv6 = xor_of_words(kIpv6SourceOffset, kIpv6AddressWords);
    std::vector<sock_filter> mix = mix_and_return(members);

    // Jump offsets count the instructions skipped after the jump itself.
    std::vector<sock_filter> program;
    // SKF_AD_PROTOCOL loads skb->protocol, the ethertype, in host byte order.
    program.push_back(statement(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL));
    program.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IP, 0, ipv4.size() + 1));
    program.insert(program.end(), ipv4.begin(), ipv4.end());
    program.push_back(statement(BPF_JMP | BPF_JA, static_cast<uint32_t>(ipv6.size() + 1)));
    program.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, 0, ipv6.size() + mix.size()));
    program.insert(program.end(), ipv6.begin(), ipv6.end());
    program.insert(program.end(), mix.begin(), mix.end());
    program.push_back(statement(BPF_RET | BPF_K, 0));
    return program;
}

uint16_t create_fanout_group(int descriptor, unsigned members) {
    // The option's low 16 bits are the group id (0 with UNIQUEID), the high 16 the mode and
    // flags (packet(7)).
    set_fanout(descriptor, (PACKET_FANOUT_CBPF | PACKET_FANOUT_FLAG_UNIQUEID) << 16,
               "creating the fanout group");
    // getsockopt(PACKET_FANOUT) returns the id in the low 16 bits (af_packet.c).
    int value = 0;
    socklen_t length = sizeof value;
    if (getsockopt(descriptor, SOL_PACKET, PACKET_FANOUT, &value, &length) != 0) {
        throw std::system_error(errno, std::generic_category(), "reading the fanout group id");
    }
    auto id = static_cast<uint16_t>(static_cast<uint32_t>(value) & 0xffff);

    std::vector<sock_filter> program = address_pair_fanout_program(members);
    sock_fprog fprog{static_cast<unsigned short>(program.size()), program.data()};
    if (setsockopt(descriptor, SOL_PACKET, PACKET_FANOUT_DATA, &fprog, sizeof fprog) != 0) {
        throw std::system_error(errno, std::generic_category(), "installing the fanout program");
    }
    return id;
}

void join_fanout_group(int descriptor, uint16_t id) {
    set_fanout(descriptor, (PACKET_FANOUT_CBPF << 16) | id, "joining the fanout group");
}

}  // namespace pw::capture
