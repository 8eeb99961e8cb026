#include "capture/live_capture.h"

#include <spdlog/spdlog.h>

#include <algorithm>

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
        std::string message = "invalid --filter '" + options.filter + "': " + pcap_geterr(dead) +
                              "; use tcpdump's filter syntax (pcap-filter(7))";
        pcap_close(dead);
        throw std::invalid_argument(message);
    }
    pcap_freecode(&program);
    pcap_close(dead);
}

}  // namespace

LiveCapture::LiveCapture(std::vector<std::string> names, LiveOptions options, unsigned workers,
                         std::chrono::milliseconds retry_interval)
    : options_(std::move(options)),
      workers_(std::max(workers, 1u)),
      retry_interval_(retry_interval) {
    check_filter(options_);
    if (names.empty()) names.push_back("any");
    for (std::string& name : names) {
        Slot slot;
        slot.counters.name = std::move(name);
        slot.seen_drop_events.assign(workers_, 0);
        slots_.push_back(std::move(slot));
    }
}

LiveCapture::~LiveCapture() = default;

std::vector<std::vector<WorkerHandle>> LiveCapture::open_due() {
    std::vector<std::vector<WorkerHandle>> opened(workers_);
    auto now = std::chrono::steady_clock::now();
    for (size_t index = 0;; ++index) {
        std::string name;
        bool first_try = false;
        LiveOptions options;
        uint64_t version = 0;
        {
            std::lock_guard lock(mutex_);
            if (index >= slots_.size()) break;
            Slot& slot = slots_[index];
            if (slot.retired || slot.counters.open || slot.handles_held > 0 ||
                now < slot.next_attempt) {
                continue;
            }
            name = slot.counters.name;
            first_try = !slot.attempted;
            slot.attempted = true;
            options = options_;
            version = options_version_;
        }
        // Opening takes a while, so it runs without the lock that the workers take.
        std::vector<std::unique_ptr<LiveInterface>> handles;
        std::string error;
        try {
            handles = open_fanout_handles(name, options, workers_);
        } catch (const CaptureError& failure) {
            error = failure.what();
        } catch (const std::invalid_argument& failure) {
            if (first_try) throw;
            error = failure.what();
        }

        std::lock_guard lock(mutex_);
        Slot& slot = slots_[index];
        // A reconfiguration while it opened: the handles go, and the next call opens the
        // interface with the new options, if it is still listed.
        if (version != options_version_ || slot.retired) continue;
        if (!error.empty()) {
            // Logged once per failure, not once per retry.
            if (slot.counters.error != error) {
                spdlog::warn("{}; retrying every {} ms", error, retry_interval_.count());
            }
            slot.counters.error = error;
            slot.next_attempt = now + retry_interval_;
            continue;
        }
        ++slot.generation;
        if (slot.ever_opened) ++slot.counters.reopens;
        slot.ever_opened = true;
        slot.counters.open = true;
        slot.counters.error.clear();
        slot.handles_held = workers_;
        slot.seen_drop_events.assign(workers_, slot.interface_drop_events);
        spdlog::info("capturing on interface '{}' (link type {}, {} handles)", name,
                     handles.front()->linktype(), handles.size());
        for (unsigned member = 0; member < workers_; ++member) {
            WorkerHandle worker_handle;
            worker_handle.slot = index;
            worker_handle.generation = slot.generation;
            worker_handle.member = member;
            worker_handle.handle = std::move(handles[member]);
            opened[member].push_back(std::move(worker_handle));
        }
    }
    return opened;
}

void LiveCapture::reconfigure(std::vector<std::string> names, LiveOptions options) {
    check_filter(options);
    if (names.empty()) names.push_back("any");
    std::lock_guard lock(mutex_);
    bool reopen = options.filter != options_.filter ||
                  options.buffer_size != options_.buffer_size ||
                  options.snapshot_length != options_.snapshot_length ||
                  options.immediate != options_.immediate ||
                  options.timeout_ms != options_.timeout_ms;
    options_ = std::move(options);
    ++options_version_;
    for (Slot& slot : slots_) {
        if (slot.retired) continue;
        bool listed = std::find(names.begin(), names.end(), slot.counters.name) != names.end();
        if (!listed) {
            spdlog::info("interface '{}': no longer captured, as the policy lists it no more",
                         slot.counters.name);
            slot.retired = true;
            slot.counters.open = false;
        } else if (reopen && slot.counters.open) {
            spdlog::info("interface '{}': opening it again with the new capture settings",
                         slot.counters.name);
            slot.counters.open = false;
            slot.counters.error = "opening again with new capture settings";
        }
        slot.next_attempt = {};  // an interface that failed tries the new settings at once
    }
    for (std::string& name : names) {
        auto same = [&](const Slot& slot) { return slot.counters.name == name; };
        auto existing = std::find_if(slots_.begin(), slots_.end(), same);
        if (existing != slots_.end() && !existing->retired) continue;
        if (existing != slots_.end()) {
            existing->retired = false;  // listed again
            existing->counters.error.clear();
            continue;
        }
        Slot slot;
        slot.counters.name = std::move(name);
        slot.seen_drop_events.assign(workers_, 0);
        slots_.push_back(std::move(slot));
    }
}

LiveOptions LiveCapture::options() const {
    std::lock_guard lock(mutex_);
    return options_;
}

bool LiveCapture::is_current(const WorkerHandle& handle) const {
    std::lock_guard lock(mutex_);
    const Slot& slot = slots_[handle.slot];
    return slot.counters.open && slot.generation == handle.generation;
}

void LiveCapture::report_failure(const WorkerHandle& handle, const std::string& error) {
    std::lock_guard lock(mutex_);
    Slot& slot = slots_[handle.slot];
    // Every member of a failing interface fails alike; the first report closes it.
    if (!slot.counters.open || slot.generation != handle.generation) return;
    close_locked(slot, error);
}

void LiveCapture::close_locked(Slot& slot, const std::string& error) {
    spdlog::warn("{}; closing it and retrying every {} ms", error, retry_interval_.count());
    slot.counters.open = false;
    slot.counters.error = error;
    slot.next_attempt = std::chrono::steady_clock::now() + retry_interval_;
}

void LiveCapture::release(WorkerHandle& handle) {
    if (handle.handle == nullptr) return;
    update_counters(handle);
    handle.handle.reset();
    std::lock_guard lock(mutex_);
    --slots_[handle.slot].handles_held;
}

bool LiveCapture::update_counters(WorkerHandle& handle) {
    LiveStats now = handle.handle->stats();
    // pcap_stats counts from the handle's opening, so only the growth is added.
    uint64_t kernel = now.kernel_drops - std::min(now.kernel_drops, handle.reported.kernel_drops);
    uint64_t interface =
        now.interface_drops - std::min(now.interface_drops, handle.reported.interface_drops);
    handle.reported = now;
    uint64_t frames = handle.unreported_frames;
    handle.unreported_frames = 0;

    std::lock_guard lock(mutex_);
    Slot& slot = slots_[handle.slot];
    slot.counters.packets += frames;
    slot.counters.kernel_drops += kernel;
    if (handle.member == 0 && interface > 0) {
        slot.counters.interface_drops += interface;
        ++slot.interface_drop_events;
    }
    if (kernel > 0 || (handle.member == 0 && interface > 0)) {
        spdlog::warn(
            "interface '{}': {} packets dropped by the kernel (ring of handle {} full), "
            "{} by the interface; the flows open now are marked partial",
            slot.counters.name, kernel, handle.member, handle.member == 0 ? interface : 0);
    }
    bool interface_dropped = slot.seen_drop_events[handle.member] != slot.interface_drop_events;
    slot.seen_drop_events[handle.member] = slot.interface_drop_events;
    return kernel > 0 || interface_dropped;
}

std::vector<InterfaceCounters> LiveCapture::counters() const {
    std::lock_guard lock(mutex_);
    std::vector<InterfaceCounters> result;
    for (const Slot& slot : slots_) {
        if (!slot.retired) result.push_back(slot.counters);
    }
    return result;
}

}  // namespace pw::capture
