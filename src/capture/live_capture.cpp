#include "capture/live_capture.h"

#include <poll.h>
#include <spdlog/spdlog.h>

namespace pw::capture {
namespace {

// Compiles the filter once before any interface opens, so that an invalid one is reported
// at start-up even when every listed interface is still missing. Ethernet is the link type
// of most interfaces; a filter valid there can still fail on another link type, which the
// interface then reports when it opens.
void check_filter(const LiveOptions& options) {
    if (options.filter.empty()) return;
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, options.snapshot_length);
    if (dead == nullptr) return;
    bpf_program program{};
    if (pcap_compile(dead, &program, options.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        std::string message =
            "invalid --filter '" + options.filter + "': " + pcap_geterr(dead) +
            "; use tcpdump's filter syntax (pcap-filter(7))";
        pcap_close(dead);
        throw std::invalid_argument(message);
    }
    pcap_freecode(&program);
    pcap_close(dead);
}

}  // namespace

LiveCapture::LiveCapture(std::vector<std::string> names, LiveOptions options,
                         std::chrono::milliseconds retry_interval)
    : options_(std::move(options)), retry_interval_(retry_interval) {
    check_filter(options_);
    if (names.empty()) names.push_back("any");
    for (std::string& name : names) {
        Slot slot;
        slot.counters.name = std::move(name);
        slots_.push_back(std::move(slot));
    }
    open_due_slots();
}

LiveCapture::~LiveCapture() = default;

void LiveCapture::open_due_slots() {
    auto now = std::chrono::steady_clock::now();
    for (Slot& slot : slots_) {
        if (slot.handle != nullptr || now < slot.next_attempt) continue;
        try {
            slot.handle = std::make_unique<LiveInterface>(slot.counters.name, options_);
        } catch (const CaptureError& error) {
            // Logged once per failure, not once per retry.
            if (slot.counters.error != error.what()) {
                spdlog::warn("{}; retrying every {} ms", error.what(), retry_interval_.count());
            }
            slot.counters.error = error.what();
            slot.next_attempt = now + retry_interval_;
            continue;
        }
        if (slot.ever_opened) ++slot.counters.reopens;
        slot.ever_opened = true;
        slot.last = {};
        slot.counters.open = true;
        slot.counters.error.clear();
        spdlog::info("capturing on interface '{}' (link type {})", slot.counters.name,
                     slot.handle->linktype());
    }
}

void LiveCapture::close_slot(Slot& slot, const std::string& error) {
    spdlog::warn("{}; closing it and retrying every {} ms", error, retry_interval_.count());
    slot.handle.reset();
    slot.counters.open = false;
    slot.counters.error = error;
    slot.next_attempt = std::chrono::steady_clock::now() + retry_interval_;
}

uint64_t LiveCapture::poll(std::chrono::milliseconds timeout, const FileReader::Visit& visit) {
    open_due_slots();
    std::vector<pollfd> descriptors;
    std::vector<Slot*> polled;
    for (Slot& slot : slots_) {
        if (slot.handle == nullptr) continue;
        descriptors.push_back({slot.handle->descriptor(), POLLIN, 0});
        polled.push_back(&slot);
    }
    if (descriptors.empty()) {
        ::poll(nullptr, 0, static_cast<int>(timeout.count()));
        return 0;
    }
    if (::poll(descriptors.data(), descriptors.size(), static_cast<int>(timeout.count())) <= 0) {
        return 0;  // timeout, or EINTR from a signal that the caller checks
    }

    uint64_t frames = 0;
    for (size_t i = 0; i < descriptors.size(); ++i) {
        Slot& slot = *polled[i];
        if (descriptors[i].revents == 0) continue;
        try {
            int count = slot.handle->dispatch(visit);
            slot.counters.packets += static_cast<uint64_t>(count);
            frames += static_cast<uint64_t>(count);
        } catch (const CaptureError& error) {
            update_drops();
            close_slot(slot, error.what());
        }
        // POLLERR or POLLHUP without a dispatch error: the socket lost its interface.
        if (slot.handle != nullptr && (descriptors[i].revents & (POLLERR | POLLHUP | POLLNVAL))) {
            close_slot(slot, "interface '" + slot.counters.name + "' went away");
        }
    }
    return frames;
}

bool LiveCapture::update_drops() {
    bool grew = false;
    for (Slot& slot : slots_) {
        if (slot.handle == nullptr) continue;
        LiveStats now = slot.handle->stats();
        // pcap_stats counts from the handle's opening, so add only the growth.
        uint64_t kernel = now.kernel_drops - std::min(now.kernel_drops, slot.last.kernel_drops);
        uint64_t interface =
            now.interface_drops - std::min(now.interface_drops, slot.last.interface_drops);
        if (kernel + interface > 0) {
            grew = true;
            spdlog::warn("interface '{}': {} packets dropped by the kernel (ring full), {} by "
                         "the interface; the flows open now are marked partial",
                         slot.counters.name, kernel, interface);
        }
        slot.counters.kernel_drops += kernel;
        slot.counters.interface_drops += interface;
        slot.last = now;
    }
    return grew;
}

std::vector<InterfaceCounters> LiveCapture::counters() const {
    std::vector<InterfaceCounters> result;
    for (const Slot& slot : slots_) result.push_back(slot.counters);
    return result;
}

}  // namespace pw::capture
