#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "capture/live_interface.h"

namespace pw::capture {

// Counters of one interface the agent captures on.
struct InterfaceCounters {
    std::string name;
    bool open = false;
    std::string error;  // why it is not open, empty when it is
    uint64_t packets = 0;          // frames handed to the pipeline
    uint64_t kernel_drops = 0;     // summed over every time the interface was open
    uint64_t interface_drops = 0;
    uint64_t reopens = 0;          // times it was opened again after failing
};

// Captures on a list of interfaces from one thread. An interface that is missing or fails
// is logged, closed and opened again every `retry_interval`, so an interface that appears
// later, or disappears and comes back, is followed without the agent exiting.
class LiveCapture {
public:
    // `names` empty captures on Linux's "any" pseudo-device, which covers every interface,
    // including those created later.
    LiveCapture(std::vector<std::string> names, LiveOptions options,
                std::chrono::milliseconds retry_interval = std::chrono::seconds(2));
    ~LiveCapture();

    // Waits up to `timeout` for packets and hands them to `visit`. Returns the frames read.
    // Invalid filters throw std::invalid_argument; interface failures never throw.
    uint64_t poll(std::chrono::milliseconds timeout, const FileReader::Visit& visit);

    // Reads pcap_stats of every open interface. Returns true when a drop counter grew since
    // the last call, meaning that packets of the flows open now were lost.
    bool update_drops();

    std::vector<InterfaceCounters> counters() const;

private:
    struct Slot {
        InterfaceCounters counters;
        std::unique_ptr<LiveInterface> handle;
        LiveStats last;  // the handle's counters at the last update_drops()
        std::chrono::steady_clock::time_point next_attempt{};
        bool ever_opened = false;
    };
    void open_due_slots();
    void close_slot(Slot& slot, const std::string& error);

    LiveOptions options_;
    std::chrono::milliseconds retry_interval_;
    std::vector<Slot> slots_;
};

}  // namespace pw::capture
