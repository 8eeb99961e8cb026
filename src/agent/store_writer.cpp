#include "agent/store_writer.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iterator>
#include <vector>

#include "store/sqlite.h"

namespace pw::agent {
namespace {

// A failure that repeats with the same message is logged again at most this often.
constexpr std::chrono::seconds kFailureLogInterval{10};
// With a backlog, a commit takes up to this many batches at once. A larger transaction
// writes each page it changes once: on 125,000 events, batches of 10,000 took 1.5 s where
// batches of 1,000 took 2.0 s (ext4 on the 2-core development machine).
constexpr size_t kBacklogBatches = 16;
// How long a commit waits for another process's lock on the store (SQLite's busy timeout).
constexpr int kWriterBusyTimeoutMs = 1000;

using Clock = std::chrono::steady_clock;

}  // namespace

StoreWriter::StoreWriter(StoreWriterSettings settings) : settings_(std::move(settings)) {
    thread_ = std::thread([this] { run(); });
}

StoreWriter::~StoreWriter() { close(); }

void StoreWriter::write(const events::Event& event) {
    std::unique_lock lock(mutex_);
    ++stats_.store.written;
    if (wait_when_full_ && !closing_) {
        // The capture has stopped, so waiting loses no packet.
        written_.wait_until(lock, wait_deadline_, [&] {
            return queue_.size() + in_batch_ < settings_.max_held || failing_ || stopped_;
        });
    }
    if (queue_.size() + in_batch_ >= settings_.max_held || closing_) {
        ++stats_.store.lost;
        ++lost_while_full_;
        auto now = Clock::now();
        if (now - last_failure_log_ >= kFailureLogInterval) {
            last_failure_log_ = now;
            spdlog::error(
                "event store {}: {} events wait in memory, the limit, so {} new events "
                "were dropped; {} lost so far",
                settings_.store.path, settings_.max_held, lost_while_full_, stats_.store.lost);
            lost_while_full_ = 0;
        }
        return;
    }
    if (queue_.empty()) oldest_waiting_ = Clock::now();
    queue_.push_back(event);
    bool batch_full = queue_.size() >= settings_.store.batch_size;
    bool first = queue_.size() == 1;
    lock.unlock();
    if (batch_full || first) wake_.notify_all();
}

void StoreWriter::wait_when_full() {
    std::lock_guard lock(mutex_);
    wait_when_full_ = true;
    wait_deadline_ = Clock::now() + settings_.close_timeout;
}

void StoreWriter::flush() {
    std::unique_lock lock(mutex_);
    uint64_t target = stats_.store.written;
    flush_target_ = std::max(flush_target_, target);
    wake_.notify_all();
    written_.wait(lock, [&] {
        return stats_.store.committed + stats_.store.lost >= target || failing_ || stopped_;
    });
}

void StoreWriter::close() {
    {
        std::lock_guard lock(mutex_);
        if (closing_) return;
        closing_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    written_.notify_all();
    if (stats_.store.lost > 0) {
        spdlog::error("event store {}: {} of {} events were not stored", settings_.store.path,
                      stats_.store.lost, stats_.store.written);
    } else if (stats_.store.written > 0) {
        spdlog::info("event store {}: stored {} events", settings_.store.path,
                     stats_.store.committed);
    }
}

StoreWriterStats StoreWriter::stats() const {
    std::lock_guard lock(mutex_);
    StoreWriterStats result = stats_;
    result.held = queue_.size() + in_batch_;
    result.failing = failing_;
    return result;
}

void StoreWriter::run() {
    std::unique_lock lock(mutex_);
    Clock::time_point close_deadline = Clock::time_point::max();
    while (true) {
        auto now = Clock::now();
        if (closing_ && close_deadline == Clock::time_point::max()) {
            close_deadline = now + settings_.close_timeout;
        }
        if (closing_ && (queue_.empty() || now >= close_deadline)) break;

        // 1. Wait until a batch is due: full, requested by flush() or close(), or as old as
        //    the commit interval. After a failure, wait until the next try.
        Clock::time_point due = Clock::time_point::max();
        if (!queue_.empty()) {
            bool asked = closing_ || flush_target_ > stats_.store.committed + stats_.store.lost;
            if (failing_) {
                due = next_try_;
            } else if (asked || queue_.size() >= settings_.store.batch_size) {
                due = now;
            } else {
                due = oldest_waiting_ + settings_.store.commit_interval;
            }
            if (closing_) due = std::min(due, close_deadline);
        }
        if (now < due) {
            if (due == Clock::time_point::max()) {
                wake_.wait(lock);
            } else {
                wake_.wait_until(lock, due);
            }
            continue;
        }

        // 2. Open the store when it is not open, and 3. write one batch.
        if (ensure_open_locked(lock)) write_batch(lock);
        written_.notify_all();
    }

    uint64_t abandoned = queue_.size();
    if (abandoned > 0) {
        stats_.store.lost += abandoned;
        queue_.clear();
        spdlog::error(
            "event store {}: {} events were still waiting for the store when the "
            "agent stopped: {}",
            settings_.store.path, abandoned, last_error_);
    }
    stopped_ = true;
    lock.unlock();
    store_.reset();  // closed on the thread that used it
}

bool StoreWriter::ensure_open_locked(std::unique_lock<std::mutex>& lock) {
    if (store_ != nullptr) return true;
    std::string error;
    bool locked = false;
    lock.unlock();
    try {
        store_ = store::EventStore::open(settings_.store.path, settings_.store.retention,
                                         settings_.store.clock);
        // Events wait in memory while the store is locked, and the writer tries again after
        // retry_interval, so a commit need not wait long for a lock. A shorter wait keeps
        // close() within close_timeout when another process keeps a lock for good.
        sqlite3_busy_timeout(store_->database().handle(), kWriterBusyTimeoutMs);
    } catch (const store::SqliteError& failure) {
        error = failure.what();
        locked = failure.primary_code() == SQLITE_BUSY || failure.primary_code() == SQLITE_LOCKED;
    } catch (const std::exception& failure) {
        error = failure.what();
        // EventStore::open describes a lock in its message, not in its type.
        locked = error.find("locked") != std::string::npos ||
                 error.find("has locked it") != std::string::npos;
    }
    lock.lock();
    if (store_ != nullptr) {
        spdlog::debug("event store {}: open for writing", settings_.store.path);
        return true;
    }
    record_failure_locked(error, locked);
    return false;
}

bool StoreWriter::write_batch(std::unique_lock<std::mutex>& lock) {
    size_t count =
        queue_.size() > settings_.store.batch_size
            ? std::min<size_t>(queue_.size(), settings_.store.batch_size * kBacklogBatches)
            : queue_.size();
    std::vector<events::Event> batch(std::make_move_iterator(queue_.begin()),
                                     std::make_move_iterator(queue_.begin() + count));
    queue_.erase(queue_.begin(), queue_.begin() + count);
    in_batch_ = count;
    lock.unlock();

    std::string error;
    bool locked = false;
    bool reopen = false;
    try {
        for (const events::Event& event : batch) store_->append(event);
        store_->commit();
    } catch (const std::exception& failure) {
        store_->rollback();
        error = failure.what();
        const auto* sqlite = dynamic_cast<const store::SqliteError*>(&failure);
        int code = sqlite != nullptr ? sqlite->primary_code() : SQLITE_ERROR;
        locked = code == SQLITE_BUSY || code == SQLITE_LOCKED;
        // SQLite opens a file that cannot be written (chattr +i, a read-only mount) read-only
        // and stays so, so the store is opened again at the next try.
        reopen = code == SQLITE_READONLY;
    }
    if (reopen) store_.reset();
    if (error.empty()) {
        try {
            store::RetentionResult removed = store_->enforce_retention();
            std::lock_guard counts(mutex_);
            stats_.store.removed_by_age += removed.removed_by_age;
            stats_.store.removed_by_size += removed.removed_by_size;
        } catch (const std::exception& failure) {
            // The events are stored, so only the limit is late; the next commit retries.
            spdlog::warn("event store {}: retention failed: {}", settings_.store.path,
                         failure.what());
        }
    }

    lock.lock();
    in_batch_ = 0;
    if (!error.empty()) {
        // The batch goes back in front, so that events keep their order.
        queue_.insert(queue_.begin(), std::make_move_iterator(batch.begin()),
                      std::make_move_iterator(batch.end()));
        record_failure_locked(error, locked);
        return false;
    }
    stats_.store.committed += count;
    if (!queue_.empty()) oldest_waiting_ = Clock::now();
    if (failing_) {
        spdlog::info(
            "event store {}: writing again; {} events that waited are stored, {} "
            "still wait",
            settings_.store.path, count, queue_.size());
        failing_ = false;
        last_error_.clear();
    }
    return true;
}

void StoreWriter::record_failure_locked(const std::string& error, bool locked) {
    auto now = Clock::now();
    next_try_ = now + settings_.retry_interval;
    bool repeated = failing_ && error == last_error_;
    failing_ = true;
    last_error_ = error;
    if (repeated && now - last_failure_log_ < kFailureLogInterval) return;
    last_failure_log_ = now;
    size_t held = queue_.size() + in_batch_;
    if (locked) {
        spdlog::warn(
            "event store {}: another process holds it locked ({}); {} events wait in "
            "memory, retrying every {} ms",
            settings_.store.path, error, held, settings_.retry_interval.count());
    } else {
        spdlog::error(
            "event store {}: writing failed ({}); {} events wait in memory, "
            "retrying every {} ms",
            settings_.store.path, error, held, settings_.retry_interval.count());
    }
}

}  // namespace pw::agent
