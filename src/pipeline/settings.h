#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "decode/decoder.h"
#include "flow/tcp_reassembly.h"

namespace pw::pipeline {

// A local network given by --local-net, which decides the direction of connections.
struct Cidr {
    decode::IpAddress network;
    uint8_t prefix_length = 0;

    // Parses "10.0.0.0/8", "fd00::/8" or a bare address (a host). Throws
    // std::invalid_argument naming the text when it is not a valid CIDR.
    static Cidr parse(const std::string& text);
    bool contains(const decode::IpAddress& address) const;
};

// The pipeline's named settings. Times are in seconds, as the command line takes them.
struct Settings {
    // Idle timeouts: a flow without packets for this long ends with reason "timeout".
    double tcp_idle_timeout_s = 3600;
    double udp_idle_timeout_s = 180;
    double other_idle_timeout_s = 60;  // ICMP, ICMPv6 and IP protocols but TCP, UDP and IGMP
    // A host repeats its IGMP membership reports at each query of its router, 125 s apart
    // by default, and a membership lasts the Group Membership Interval, 260 s by default
    // (RFC 2236 and RFC 3376, section 8.4). So an IGMP flow ends when a membership would.
    double igmp_idle_timeout_s = 260;
    // A TCP connection that completed its teardown (FIN both ways, or RST) ends after this
    // long without packets, so that late ACKs and retransmissions still count to it.
    double tcp_closed_linger_s = 10;
    // Long connections report cumulative statistics this often; 0 disables it.
    double statistics_interval_s = 60;

    size_t max_flows = 1'000'000;
    // Bytes that flows, IP fragments and TCP reassembly buffers may hold together before
    // the pipeline evicts (see memory_bound.h); 0 for no bound.
    size_t max_memory_bytes = 0;
    size_t max_expected_flows = 4096;
    double expected_flow_timeout_s = 300;

    flow::ReassemblyLimits reassembly;
    decode::FragmentLimits fragments;

    std::vector<Cidr> local_networks;
    // The live agent's test for the machine's own addresses, asked with local_networks.
    std::function<bool(const decode::IpAddress&)> is_local_address;
    std::string device;  // host name written into events, empty for none
};

}  // namespace pw::pipeline
