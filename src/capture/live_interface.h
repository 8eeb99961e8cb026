#pragma once

#include <pcap/pcap.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "capture/file_reader.h"

namespace pw::capture {

// How a live interface is opened.
struct LiveOptions {
    int buffer_size = 8 << 20;  // bytes of the kernel's memory-mapped ring (TPACKET_V3)
    int snapshot_length = 262144;
    // Hand over each ring block within kImmediateBlockMs of its first packet instead of
    // timeout_ms, so that the first packet of a connection reaches process attribution
    // while its socket still exists.
    bool immediate = true;
    int timeout_ms = 100;  // used when not immediate
    // The maximum time the kernel keeps a block that is not full while immediate. libpcap's
    // own immediate mode is not used: it switches to TPACKET_V2, whose ring has one slot per
    // packet of the interface's largest size. A 32 MiB ring on loopback (MTU 65536) then
    // held 500 packets, and a burst of short connections overflowed it. TPACKET_V3 packs
    // packets by their length.
    static constexpr int kImmediateBlockMs = 1;
    int block_timeout_ms() const { return immediate ? kImmediateBlockMs : timeout_ms; }
    // The time after which every packet received so far is in a block the kernel handed
    // over: twice the block timeout, plus a tick of the kernel's timer, which rounds the
    // timeout up to its ticks (10 ms at 100 Hz, the slowest common setting).
    std::chrono::milliseconds handover_wait() const {
        return std::chrono::milliseconds(2 * block_timeout_ms() + 10);
    }
    // Deliver each packet at once through libpcap's immediate mode (TPACKET_V2). Only for a
    // capture of headers: a short snapshot length then keeps the ring's slots small.
    bool per_packet = false;
    std::string filter;    // BPF filter expression (tcpdump syntax), empty for none
};

// Raised when an interface cannot be opened or read; what() names the interface.
class CaptureError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Drop counters of one handle, as pcap_stats(3PCAP) returns them on Linux.
struct LiveStats {
    uint64_t received = 0;         // packets the filter accepted
    uint64_t kernel_drops = 0;     // ps_drop: dropped because the ring was full
    uint64_t interface_drops = 0;  // ps_ifdrop: dropped by the interface or its driver
};

// One interface captured with libpcap in non-blocking mode, so that one thread can poll
// every interface's descriptor.
class LiveInterface {
  public:
    // Opens and activates `name` ("any" for every interface). Throws CaptureError, and
    // std::invalid_argument when the filter does not compile for the interface's link type.
    // With `held` the handle passes no packet until release(): it can then join a fanout
    // group without having taken packets that belong to another member.
    LiveInterface(const std::string& name, const LiveOptions& options, bool held = false);
    ~LiveInterface();
    LiveInterface(const LiveInterface&) = delete;
    LiveInterface& operator=(const LiveInterface&) = delete;

    // Reads the packets that are waiting and returns how many. Throws CaptureError when the
    // interface fails, for instance because it went down or was removed.
    int dispatch(const FileReader::Visit& visit);

    // Installs the filter of the options, after the handle was opened held. Throws as the
    // constructor does.
    void release();

    // Why the capture socket reported an error or hang-up, in words: its pending error
    // (SO_ERROR, which reading clears), else the interface's state ("the interface went
    // down"), else empty. libpcap reads and ignores ENETDOWN itself, so the cause usually
    // comes from the state.
    std::string failure_cause() const;

    LiveStats stats() const;
    int descriptor() const { return descriptor_; }
    int linktype() const { return linktype_; }
    const std::string& name() const { return name_; }

  private:
    void install_filter(const std::string& expression);
    void discard_waiting_packets();

    std::string name_;
    LiveOptions options_;
    pcap_t* handle_ = nullptr;
    int descriptor_ = -1;
    int linktype_ = 0;
};

// Opens `name` once per member of a new PACKET_FANOUT group (live_fanout.h), so that the
// kernel hands each packet to one handle, chosen by the packet's address pair. Handle i is
// member i. Throws as LiveInterface does.
std::vector<std::unique_ptr<LiveInterface>> open_fanout_handles(const std::string& name,
                                                                const LiveOptions& options,
                                                                unsigned members);

}  // namespace pw::capture
