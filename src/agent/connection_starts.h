#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_set>

#include "capture/live_interface.h"
#include "decode/decoder.h"
#include "process/attributor.h"

namespace pw::agent {

// Looks up the owner of each new connection at its first packet, ahead of the capture
// workers. The workers' rings hand packets over in blocks, up to a few milliseconds after
// they came: the kernel's timer ticks every 4 ms at 250 Hz. A client that lives only that
// long (dig, curl to a local server) has closed its socket by then. This capture takes
// only the headers of TCP SYNs and UDP datagrams, each handed over at once, and its lookups
// leave the owners in the attributor's memory, where the worker's lookup at the connect
// event finds them.
//
// It captures every interface, whichever the workers capture, because a lookup of another
// interface's connection costs only the lookup. Each endpoint pair is looked up once while
// it is in a table of recent pairs, and all pairs together at most kLookupsPerSecond times
// a second. A flood of SYNs or datagrams then costs a bounded share of a core, and the
// workers look up the rest at their connect events, as without this capture.
class ConnectionStarts {
  public:
    // Opens the capture of every interface. Call before privileges are dropped. Throws
    // capture::CaptureError.
    ConnectionStarts();
    ~ConnectionStarts();  // stop()
    ConnectionStarts(const ConnectionStarts&) = delete;
    ConnectionStarts& operator=(const ConnectionStarts&) = delete;

    // Starts the thread that calls `attributor`, which must outlive it.
    void start(process::ProcessAttributor& attributor);
    void stop();

    static constexpr int kSnapshotLength = 128;  // every header up to the ports
    static constexpr int kBufferBytes = 4 << 20;
    static constexpr size_t kRecentPairs = 1 << 16;
    static constexpr uint32_t kLookupsPerSecond = 2000;

  private:
    void run();
    void look_up(const capture::Frame& frame);

    std::unique_ptr<capture::LiveInterface> handle_;
    process::ProcessAttributor* attributor_ = nullptr;
    decode::Decoder decoder_;
    decode::Packet packet_;
    std::unordered_set<uint64_t> recent_;  // hashes of the pairs looked up
    std::chrono::steady_clock::time_point second_start_{};
    uint32_t lookups_this_second_ = 0;
    int wake_fd_ = -1;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace pw::agent
