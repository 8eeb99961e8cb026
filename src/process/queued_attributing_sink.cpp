#include "process/queued_attributing_sink.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>

namespace pw::process {
namespace {

// A failure of the next sinks that repeats is logged again at most this often.
constexpr std::chrono::seconds kErrorLogInterval{10};

}  // namespace

QueuedAttributingSink::QueuedAttributingSink(ProcessAttributor& attributor,
                                             std::vector<events::EventSink*> next)
    : sink_(attributor, std::move(next)) {
    thread_ = std::thread([this] { run(); });
}

QueuedAttributingSink::~QueuedAttributingSink() {
    {
        std::lock_guard lock(queue_mutex_);
        stopping_ = true;
    }
    work_.notify_all();
    thread_.join();
}

void QueuedAttributingSink::write(const events::Event& event) {
    {
        std::unique_lock lock(queue_mutex_);
        room_.wait(lock, [this] { return queue_.size() < kMaxQueued; });
        queue_.push_back(event);
    }
    work_.notify_one();
}

void QueuedAttributingSink::flush() {
    {
        std::unique_lock lock(queue_mutex_);
        drained_.wait(lock, [this] { return queue_.empty() && !passing_; });
    }
    std::lock_guard lock(sink_mutex_);
    sink_.flush();
}

void QueuedAttributingSink::with_processes(const std::function<void(const ProcessLookup&)>& use) {
    std::lock_guard lock(sink_mutex_);
    use([this](const std::string& uid) { return sink_.process_of(uid); });
}

void QueuedAttributingSink::run() {
    std::deque<events::Event> batch;
    uint64_t failures = 0;
    auto last_log = std::chrono::steady_clock::time_point{};
    std::unique_lock lock(queue_mutex_);
    while (true) {
        work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, with every event passed on
        batch.swap(queue_);
        passing_ = true;
        lock.unlock();
        room_.notify_all();
        for (const events::Event& event : batch) {
            // Locked per event, so that a listing (with_processes()) on the capture thread
            // waits for one lookup at most, not for a whole batch of them.
            std::lock_guard sink_lock(sink_mutex_);
            try {
                sink_.write(event);
            } catch (const std::exception& error) {
                ++failures;
                auto now = std::chrono::steady_clock::now();
                if (now - last_log >= kErrorLogInterval) {
                    spdlog::error(
                        "passing on the events of connection {} failed ({} times so "
                        "far): {}",
                        event.connection_uid, failures, error.what());
                    last_log = now;
                }
            }
        }
        batch.clear();
        lock.lock();
        passing_ = false;
        if (queue_.empty()) drained_.notify_all();
    }
}

}  // namespace pw::process
