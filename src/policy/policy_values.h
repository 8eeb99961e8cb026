#pragma once

// Typed, validated reads of one TOML value of a policy; each failure throws a PolicyError that
// names the value's line and key.

#include <climits>
#include <cstdint>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "detect/protocols.h"

namespace pw::policy {

// Limits of the policy's values, documented in docs/policy.md.
inline constexpr int64_t kMaxStatisticsIntervalMs = 24LL * 3600 * 1000;
// The range of a capture ring, for `capture.buffer_size` and `agent --buffer-size` alike.
// libpcap 1.10 on Linux (pcap-linux.c, create_ring) builds a TPACKET_V3 ring of blocks of
// 256 KiB (MAXIMUM_SNAPLEN) and rounds the size up to whole blocks. A smaller size therefore
// still takes a whole block, and a ring below 1 MiB has fewer than four blocks, which leaves
// the kernel little room to fill while the capture thread reads one.
inline constexpr uint64_t kMinCaptureBuffer = 1024 * 1024;
// pcap_set_buffer_size takes an int.
inline constexpr uint64_t kMaxCaptureBuffer = INT_MAX;
// The smallest memory bound of [flows]: room for a few hundred flows with their inspection.
inline constexpr uint64_t kMinFlowMemory = 1024 * 1024;
// JetStream keeps at most five replicas of a stream.
inline constexpr int64_t kMaxReplicas = 5;

// "a string", "an integer", ... for messages.
std::string describe_type(const toml::node& node);

class ValueReader {
  public:
    ValueReader(const toml::node& node, const std::string& source, std::string key)
        : node_(node), source_(source), key_(std::move(key)) {}

    bool boolean() const;
    int64_t integer(int64_t min, int64_t max) const;
    std::string string() const;
    // The elements of an array, each read under the array's key.
    std::vector<ValueReader> elements() const;

    // A size: an integer count of bytes or a string with a suffix ("1GB", "64MiB").
    uint64_t size_bytes(uint64_t min, uint64_t max = UINT64_MAX) const;
    // A duration: an integer count of seconds or a string with units ("90s", "30d").
    int64_t duration_ms(int64_t min, int64_t max) const;

    ProtocolId protocol() const;  // a name or an id of the protocol table
    std::string absolute_path() const;
    std::string interface_name() const;
    std::string group_name() const;
    std::string bpf_filter() const;  // compiled once to check it
    std::string nats_url() const;
    std::string stream_name() const;
    std::string subject_prefix() const;

    // Throws a PolicyError for this value with `problem` as the message.
    [[noreturn]] void fail(const std::string& problem) const;

  private:
    // Returns the value as an error message quotes it: a string in quotes, a number, or the
    // kind of any other value.
    std::string shown_value() const;
    const toml::node& node_;
    const std::string& source_;
    std::string key_;
};

}  // namespace pw::policy
