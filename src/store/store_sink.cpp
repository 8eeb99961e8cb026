#include "store/store_sink.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace pw::store {
namespace {

// Repeated write failures (a disk that stays full) are logged at most this often.
constexpr std::chrono::seconds kFailureLogInterval{10};
// After a store stayed locked for a whole busy timeout, events are counted lost without a
// try for this long. Each try waits out the busy timeout, so trying for every event would
// stall the analysis for that long per event.
constexpr std::chrono::seconds kLockedRetryInterval{10};

int primary_code(const std::exception& error) {
    const auto* sqlite = dynamic_cast<const SqliteError*>(&error);
    return sqlite != nullptr ? sqlite->primary_code() : SQLITE_ERROR;
}

std::string describe_write_failure(const std::string& path, const std::exception& error) {
    switch (primary_code(error)) {
        case SQLITE_FULL:
            return fmt::format(
                "event store {}: the disk is full ({}); free space on the disk or pass --store "
                "with a path on another disk, then a lower --store-max-size keeps the store "
                "from filling it again",
                path, error.what());
        case SQLITE_READONLY:
        case SQLITE_IOERR:
        case SQLITE_CANTOPEN:
            return fmt::format(
                "event store {}: writing failed ({}); check the disk and the permissions of "
                "the file and its directory, or pass --store with another path",
                path, error.what());
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return fmt::format(
                "event store {}: timed out waiting for another process that holds the store "
                "locked ({}); stop that process or pass --store with another path",
                path, error.what());
        default:
            return fmt::format("event store {}: writing failed: {}", path, error.what());
    }
}

}  // namespace

StoreSink::StoreSink(StoreSettings settings) : settings_(std::move(settings)) {
    try {
        store_ = EventStore::open(settings_.path, settings_.retention, settings_.clock);
        spdlog::debug("event store {}: open for writing", settings_.path);
    } catch (const std::exception& error) {
        spdlog::error("{}; events of this run will not be stored", error.what());
        return;
    }
    timer_ = std::thread([this] { run_timer(); });
}

StoreSink::~StoreSink() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        if (store_) commit_locked();
    }
    wake_.notify_all();
    if (timer_.joinable()) timer_.join();

    if (stats_.lost > 0) {
        spdlog::error("event store {}: {} of {} events were not stored", settings_.path,
                      stats_.lost, stats_.written);
    } else if (stats_.written > 0) {
        spdlog::info("event store {}: stored {} events", settings_.path, stats_.committed);
    }
}

void StoreSink::write(const events::Event& event) {
    std::unique_lock lock(mutex_);
    ++stats_.written;
    if (!store_ || std::chrono::steady_clock::now() < locked_until_) {
        ++stats_.lost;
        return;
    }
    bool starts_batch = store_->pending() == 0;
    try {
        store_->append(event);
    } catch (const std::exception& error) {
        record_failure_locked(error, store_->rollback() + 1);
        return;
    }
    if (store_->pending() >= settings_.batch_size) {
        commit_locked();
    } else if (starts_batch) {
        batch_started_ = std::chrono::steady_clock::now();
        lock.unlock();
        wake_.notify_all();
    }
}

void StoreSink::flush() {
    std::lock_guard lock(mutex_);
    if (store_) commit_locked();
}

StoreStats StoreSink::stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
}

bool StoreSink::is_open() const {
    std::lock_guard lock(mutex_);
    return store_ != nullptr;
}

void StoreSink::commit_locked() {
    uint64_t pending = store_->pending();
    if (pending == 0) return;
    try {
        store_->commit();
    } catch (const std::exception& error) {
        record_failure_locked(error, store_->rollback());
        return;
    }
    stats_.committed += pending;
    enforce_retention_locked();
}

void StoreSink::enforce_retention_locked() {
    try {
        RetentionResult result = store_->enforce_retention();
        stats_.removed_by_age += result.removed_by_age;
        stats_.removed_by_size += result.removed_by_size;
    } catch (const std::exception& error) {
        // Stored events are untouched, so only the limit is late; the next commit retries.
        spdlog::warn("event store {}: retention failed: {}", settings_.path, error.what());
    }
}

void StoreSink::record_failure_locked(const std::exception& error, uint64_t lost) {
    bool first = stats_.lost == 0;
    stats_.lost += lost;
    auto now = std::chrono::steady_clock::now();
    int code = primary_code(error);
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) locked_until_ = now + kLockedRetryInterval;
    if (!first && now - last_failure_log_ < kFailureLogInterval) return;
    last_failure_log_ = now;
    spdlog::error("{}; {} events not stored so far", describe_write_failure(settings_.path, error),
                  stats_.lost);
}

void StoreSink::run_timer() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (store_->pending() == 0) {
            wake_.wait(lock, [this] { return stopping_ || store_->pending() > 0; });
            continue;
        }
        auto deadline = batch_started_ + settings_.commit_interval;
        if (wake_.wait_until(lock, deadline, [this] { return stopping_; })) break;
        // A commit by size may have started a younger batch while this thread waited.
        if (store_->pending() > 0 &&
            std::chrono::steady_clock::now() >= batch_started_ + settings_.commit_interval) {
            commit_locked();
        }
    }
}

}  // namespace pw::store
