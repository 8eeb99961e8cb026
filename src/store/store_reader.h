#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "events/event.h"
#include "query/compiler.h"
#include "store/schema.h"
#include "store/sqlite.h"

namespace pw::store {

struct StoredEvent {
    int64_t sequence = 0;  // the row id: grows with every event stored, never reused
    std::string event_uid;
    int64_t stored_at_ms = 0;
    events::Event event;
};

class StoreReader;

// Rows of a query, read one at a time from sqlite3_step; the result is never held whole.
class EventCursor {
  public:
    // Reads the next event into `out`; false at the end. Throws StoreError naming the store
    // when a read fails, as it does on damage past the rows read so far.
    bool next(StoredEvent& out);

  private:
    friend class StoreReader;
    EventCursor(Statement rows, Statement* protocols, std::string path)
        : rows_(std::move(rows)), protocols_(protocols), path_(std::move(path)) {}
    Statement rows_;
    Statement* protocols_;
    std::string path_;
};

// A read-only connection to a store. In WAL mode a reader does not block the writer; it
// waits up to the busy timeout while a checkpoint or a recovery holds the file.
class StoreReader {
  public:
    // Throws StoreError naming the path when it is missing, not a store, or damaged. A store
    // whose -wal or -shm file is missing, in a directory the reader may not write, is read as
    // immutable when no -wal file with content remains, because SQLite cannot open it otherwise.
    static StoreReader open(const std::string& path);

    // Events that match `filter`, ordered by time then sequence. `limit` 0 means no limit.
    EventCursor select(const query::SqlFilter& filter, uint64_t limit = 0);
    // Events stored after `sequence`, in the order they were stored (the publisher's outbox
    // order). `limit` 0 means no limit.
    EventCursor select_after(int64_t sequence, uint64_t limit = 0);
    // The sequence of the last event stored; 0 when the store is empty.
    int64_t last_sequence();

    // The connect or disconnect event of the session that `statistics` (stored as
    // `statistics_sequence`) describes: the same device, transport and endpoints, and the
    // same connection_uid when it has one. A connect lies in [start_time, time] of the
    // statistics event. A disconnect lies at or after end_time, and may come after the
    // statistics event itself: the last statistics event of a quiet connection is one that
    // fell due, and the disconnect follows at its timeout. Without a connection_uid, both
    // must lie in [start_time, end_time]. A connect is the last match stored before the
    // statistics event, a disconnect the first after it, so that the copies of a capture
    // analyzed twice into one store pair within themselves. Throws StoreError as
    // EventCursor::next does.
    std::optional<StoredEvent> find_session_event(const events::Event& statistics,
                                                  int64_t statistics_sequence,
                                                  events::Activity activity);

    Database& database() { return db_; }
    const std::string& path() const { return db_.path(); }

  private:
    StoreReader(Database db);
    Database db_;
    Statement protocols_;
    std::optional<Statement> session_by_uid_;
    std::optional<Statement> session_by_endpoints_;
};

// A StoreError for a read of the store at `path` that failed: the path, SQLite's message and
// what to do.
StoreError describe_read_failure(const std::string& path, const SqliteError& error);

// Binds the filter's parameters to `statement` starting at parameter `first`; returns the next
// free index.
int bind_parameters(Statement& statement, const query::SqlFilter& filter, int first = 1);

}  // namespace pw::store
