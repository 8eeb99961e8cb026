#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <vector>

namespace pw::capture {

// The classic BPF program that a PACKET_FANOUT_CBPF group runs on every packet to choose the
// member socket: a hash of the IPv4 or IPv6 source and destination addresses that is the
// same both ways, modulo `members`. A conversation, its IP fragments and the data
// connections it announces (FTP, TFTP) share an address pair, so they reach one member.
// Packets that are neither IPv4 nor IPv6 go to member 0. The addresses are those of the
// outermost IP header, since the kernel sees no deeper: every conversation inside one tunnel
// goes to the tunnel's member.
std::vector<sock_filter> address_pair_fanout_program(unsigned members);

// Joins the packet socket `descriptor` to a new PACKET_FANOUT_CBPF group whose id the kernel
// picks among the free ones of the network namespace (PACKET_FANOUT_FLAG_UNIQUEID), installs
// address_pair_fanout_program(members) and returns the id. Throws std::system_error.
uint16_t create_fanout_group(int descriptor, unsigned members);

// Joins `descriptor` to the group `id` that create_fanout_group() made. The socket must be
// bound to the same interface as the group's first member. Throws std::system_error.
void join_fanout_group(int descriptor, uint16_t id);

}  // namespace pw::capture
