#include "agent/capture_worker.h"

#include <fmt/format.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>

namespace pw::agent {
namespace {

// How long one poll waits, which bounds how late the worker sees a closed interface.
constexpr int kPollTimeoutMs = 200;
// How often drops are read, idle flows ended and the snapshot taken.
constexpr std::chrono::milliseconds kTickInterval{1000};
// A pipeline error that repeats is logged again at most this often, with the count.
constexpr std::chrono::seconds kErrorLogInterval{10};

int64_t thread_cpu_us() {
    timespec time{};
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time) != 0) return 0;
    return static_cast<int64_t>(time.tv_sec) * 1'000'000 + time.tv_nsec / 1000;
}

}  // namespace

CaptureWorker::CaptureWorker(unsigned index, pipeline::Settings settings,
                             std::vector<events::EventSink*> outputs,
                             process::ProcessAttributor* attributor, capture::LiveCapture& capture,
                             pipeline::SharedBounds* bounds)
    : index_(index), capture_(capture) {
    std::vector<events::EventSink*> sinks = outputs;
    if (attributor != nullptr) {
        // One attributing sink per worker: it keeps the processes of the worker's own open
        // connections, and looks them up on a thread of its own.
        attributing_ = std::make_unique<process::QueuedAttributingSink>(*attributor, outputs);
        sinks = {attributing_.get()};
    }
    pipeline_ = std::make_unique<pipeline::Pipeline>(std::move(settings), sinks);
    if (bounds != nullptr) pipeline_->share_bounds(*bounds, index);
    // Each worker numbers its flows in its own residue, so that connection ids stay unique.
    pipeline_->number_flows_from(index + 1, capture.workers());
    wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

CaptureWorker::~CaptureWorker() {
    stop();
    close(wake_fd_);
}

void CaptureWorker::start() {
    thread_ = std::thread([this] { run(); });
}

void CaptureWorker::add_handles(std::vector<capture::WorkerHandle> handles) {
    if (handles.empty()) return;
    {
        std::lock_guard lock(mutex_);
        for (auto& handle : handles) incoming_.push_back(std::move(handle));
    }
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) spdlog::debug("worker {}: wake-up failed", index_);
}

void CaptureWorker::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    uint64_t one = 1;
    if (write(wake_fd_, &one, sizeof one) < 0) spdlog::debug("worker {}: wake-up failed", index_);
    if (thread_.joinable()) thread_.join();
}

WorkerSnapshot CaptureWorker::snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshot_;
}

void CaptureWorker::for_each_connection(std::chrono::steady_clock::time_point deadline,
                                        const std::function<void(const nlohmann::json&)>& row) {
    std::shared_ptr<const std::vector<pipeline::OpenFlow>> flows;
    int64_t listed_at_us = 0;
    {
        std::unique_lock lock(mutex_);
        if (running_ && std::chrono::steady_clock::now() >= next_listing_) {
            const uint64_t listings_before = connections_listed_;
            connections_requested_ = true;
            const uint64_t wake = 1;
            if (write(wake_fd_, &wake, sizeof wake) < 0) {
                spdlog::debug("worker {}: waking the thread failed: {}", index_,
                              std::strerror(errno));
            }
            connections_ready_.wait_until(lock, deadline, [&] {
                return connections_listed_ != listings_before || !running_;
            });
        }
        flows = listed_flows_;
        listed_at_us = listed_at_us_;
    }
    // The rows are built here, on the requesting thread, so that the capture thread only
    // copies its flows. The attribution lock is held for one part of the rows at a time.
    constexpr size_t kRowsPerLock = 256;
    const auto no_process = [](const std::string&) -> const events::Process* { return nullptr; };
    for (size_t first = 0; first < flows->size(); first += kRowsPerLock) {
        const size_t last = std::min(flows->size(), first + kRowsPerLock);
        const std::span<const pipeline::OpenFlow> part(flows->data() + first, last - first);
        nlohmann::json rows;
        if (attributing_ == nullptr) {
            rows = connections_json(part, listed_at_us, no_process);
        } else {
            attributing_->with_processes(
                [&](const process::QueuedAttributingSink::ProcessLookup& lookup) {
                    rows = connections_json(part, listed_at_us, lookup);
                });
        }
        for (const nlohmann::json& connection : rows) row(connection);
    }
}

void CaptureWorker::list_requested_connections() {
    {
        std::lock_guard lock(mutex_);
        if (!connections_requested_) return;
    }
    const auto started = std::chrono::steady_clock::now();
    std::vector<pipeline::OpenFlow> flows = pipeline_->open_flows();
    const int64_t listed_at_us = wall_clock_us();
    const auto finished = std::chrono::steady_clock::now();
    auto shared = std::make_shared<const std::vector<pipeline::OpenFlow>>(std::move(flows));
    {
        std::lock_guard lock(mutex_);
        listed_flows_ = std::move(shared);
        listed_at_us_ = listed_at_us;
        connections_requested_ = false;
        ++connections_listed_;
        // A reader that requests listings again and again (netstat in a loop) would otherwise
        // keep the capture thread listing instead of reading packets. Until the time set
        // here, requests get this listing.
        next_listing_ = finished + (finished - started) * kListingSpacing;
    }
    connections_ready_.notify_all();
}

void CaptureWorker::run() {
    next_tick_ = std::chrono::steady_clock::now() + kTickInterval;
    {
        std::lock_guard lock(mutex_);
        running_ = true;
    }
    std::vector<pollfd> descriptors;
    while (true) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) break;
        }
        adopt_new_handles();

        descriptors.clear();
        for (const capture::WorkerHandle& handle : handles_) {
            descriptors.push_back({handle.handle->descriptor(), POLLIN, 0});
        }
        descriptors.push_back({wake_fd_, POLLIN, 0});
        int ready = ::poll(descriptors.data(), descriptors.size(), kPollTimeoutMs);
        if (ready < 0 && errno != EINTR) {
            spdlog::error("worker {}: poll failed: {}", index_, std::strerror(errno));
        }
        if (ready > 0) {
            if (descriptors.back().revents != 0) {
                uint64_t count = 0;
                if (read(wake_fd_, &count, sizeof count) < 0) count = 0;
            }
            std::vector<size_t> ready_handles;
            std::vector<short> events;
            for (size_t i = 0; i + 1 < descriptors.size(); ++i) {
                if (descriptors[i].revents == 0) continue;
                ready_handles.push_back(i);
                events.push_back(descriptors[i].revents);
            }
            read_ready(ready_handles, events);
        }
        if (std::chrono::steady_clock::now() >= next_tick_) tick();
        try {
            list_requested_connections();
        } catch (const std::exception& error) {
            spdlog::error("worker {}: listing the connections failed: {}", index_, error.what());
        }
    }
    {
        std::lock_guard lock(mutex_);
        running_ = false;
        listed_flows_ = std::make_shared<const std::vector<pipeline::OpenFlow>>();
    }
    connections_ready_.notify_all();

    // A ring hands over its last block only once the block's timeout passed. That block is
    // read now, so that the packets of the last milliseconds before the stop count.
    std::this_thread::sleep_for(capture_.options().handover_wait());
    auto visit = [this](const capture::Frame& frame) { process_frame(frame); };
    for (capture::WorkerHandle& handle : handles_) {
        try {
            handle.handle->dispatch(visit);
        } catch (const capture::CaptureError& error) {
            spdlog::warn("worker {}: reading the last packets before the stop failed: {}",
                         index_, error.what());
        }
    }

    // Stopping: the last counters, then every flow ends and the sinks flush.
    for (capture::WorkerHandle& handle : handles_) capture_.release(handle);
    handles_.clear();
    try {
        pipeline_->finish();
    } catch (const std::exception& error) {
        spdlog::error("worker {}: ending the open flows failed: {}", index_, error.what());
    }
    take_snapshot();
}

void CaptureWorker::adopt_new_handles() {
    {
        std::lock_guard lock(mutex_);
        for (auto& handle : incoming_) handles_.push_back(std::move(handle));
        incoming_.clear();
    }
    // Handles of an interface that failed on another worker are closed here too.
    for (size_t i = handles_.size(); i-- > 0;) {
        if (capture_.is_current(handles_[i])) continue;
        capture_.release(handles_[i]);
        handles_.erase(handles_.begin() + static_cast<std::ptrdiff_t>(i));
    }
}

void CaptureWorker::read_ready(const std::vector<size_t>& ready, const std::vector<short>& events) {
    std::vector<std::pair<size_t, std::string>> failed;
    auto visit = [this](const capture::Frame& frame) { process_frame(frame); };
    for (size_t n = 0; n < ready.size(); ++n) {
        capture::WorkerHandle& handle = handles_[ready[n]];
        try {
            handle.unreported_frames += static_cast<uint64_t>(handle.handle->dispatch(visit));
        } catch (const capture::CaptureError& error) {
            failed.emplace_back(ready[n], error.what());
            continue;
        }
        // POLLERR or POLLHUP without a read error: the socket lost its interface.
        if (events[n] & (POLLERR | POLLHUP | POLLNVAL)) {
            std::string cause = handle.handle->failure_cause();
            if (cause.empty()) cause = "an error or hang-up without a cause";
            failed.emplace_back(ready[n], fmt::format("interface '{}': the capture socket "
                                                      "failed: {}",
                                                      handle.handle->name(), cause));
        }
    }
    // From the back, so that the positions of the others stay valid.
    for (auto it = failed.rbegin(); it != failed.rend(); ++it) drop_handle(it->first, it->second);
}

void CaptureWorker::drop_handle(size_t position, const std::string& error) {
    capture::WorkerHandle& handle = handles_[position];
    capture_.report_failure(handle, error);
    capture_.release(handle);
    handles_.erase(handles_.begin() + static_cast<std::ptrdiff_t>(position));
}

void CaptureWorker::process_frame(const capture::Frame& frame) {
    if (!pipeline::Pipeline::supports_link_type(frame.linktype)) {
        ++unsupported_frames_;
        return;
    }
    try {
        pipeline_->process_frame(frame.linktype, frame.data, frame.wire_length, frame.time_us);
    } catch (const std::exception& error) {
        // Nothing in a packet should make the pipeline throw; if it does, the frame is
        // skipped and capture goes on.
        ++pipeline_errors_;
        auto now = std::chrono::steady_clock::now();
        if (now - last_error_log_ >= kErrorLogInterval) {
            last_error_log_ = now;
            spdlog::error("worker {}: analyzing a frame failed ({} so far): {}", index_,
                          pipeline_errors_, error.what());
        }
    }
}

void CaptureWorker::tick() {
    next_tick_ += kTickInterval;
    auto now = std::chrono::steady_clock::now();
    if (next_tick_ < now) next_tick_ = now + kTickInterval;  // after a long stall

    bool lost_packets = false;
    for (capture::WorkerHandle& handle : handles_) {
        lost_packets = capture_.update_counters(handle) || lost_packets;
    }
    try {
        // Every flow open now may miss the dropped packets.
        if (lost_packets) pipeline_->mark_open_flows_partial();
        // A quiet interface brings no packet time, so idle flows end by the clock.
        pipeline_->expire_idle(wall_clock_us());
        take_snapshot();
    } catch (const std::exception& error) {
        // Ending flows writes events; a failure there must not end the capture thread.
        spdlog::error("worker {}: the periodic work failed: {}", index_, error.what());
    }
}

void CaptureWorker::take_snapshot() {
    WorkerSnapshot snapshot;
    snapshot.status.summary = pipeline_->summary();
    snapshot.status.cpu_us = thread_cpu_us();
    snapshot.status.unsupported_frames = unsupported_frames_;
    snapshot.status.pipeline_errors = pipeline_errors_;
    snapshot.status.handles = handles_.size();
    std::lock_guard lock(mutex_);
    snapshot_ = std::move(snapshot);
}

}  // namespace pw::agent
