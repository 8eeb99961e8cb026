#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "events/event.h"
#include "store/retention.h"
#include "store/schema.h"
#include "store/sqlite.h"

namespace pw::store {

// Checks that `path` is missing, empty, or an SQLite database that EventStore::open accepts,
// without changing the file or creating any file beside it, so that a caller can check a
// store before it changes the file's owner or mode. Throws StoreError naming the path and
// what to do. A file it cannot read passes, because the open then reports why.
void check_store_file(const std::string& path);

// Writes events to a store file. Not thread-safe: StoreSink adds the locking and the timer.
class EventStore {
  public:
    using Clock = std::function<int64_t()>;

    // Opens or creates the store at `path`, creating missing parent directories, and
    // migrates it. A file that check_store_file() rejects is left unchanged. `clock` returns
    // milliseconds since the epoch (the system clock when empty) and stamps stored_at. Throws
    // StoreError with a message that names the path and what to do.
    static std::unique_ptr<EventStore> open(const std::string& path, RetentionPolicy retention,
                                            Clock clock = {});

    // Inserts the event into the open transaction, beginning one when none is open. Throws
    // SqliteError; the caller then calls rollback().
    void append(const events::Event& event);
    // Commits the open transaction, if any. Throws SqliteError.
    void commit();
    // Abandons the open transaction; returns how many events it held.
    uint64_t rollback();
    // Events appended since the last commit.
    uint64_t pending() const { return pending_; }

    // Applies the retention policy by the store's clock. Throws SqliteError.
    RetentionResult enforce_retention();
    Database& database() { return db_; }
    const std::string& path() const { return db_.path(); }

  private:
    EventStore(Database db, RetentionPolicy retention, Clock clock);
    std::string next_event_uid(int64_t now);

    Database db_;
    RetentionPolicy retention_;
    Clock clock_;
    Statement insert_event_;
    Statement insert_protocol_;
    uint64_t pending_ = 0;
    // Seeded per store from std::random_device, so that forked writers draw different ids.
    std::mt19937_64 random_;
};

}  // namespace pw::store
