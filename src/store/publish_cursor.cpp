#include "store/publish_cursor.h"

#include <fmt/format.h>

#include <filesystem>

#include "store/schema.h"

namespace pw::store {

PublishCursor PublishCursor::open(const std::string& path, const std::string& stream) {
    std::error_code error;
    if (!std::filesystem::exists(path, error)) {
        throw StoreError(fmt::format(
            "no event store at {} (the file does not exist); record events with `protowatch "
            "analyze --store {}` first",
            path, path));
    }
    try {
        Database db = Database::open(path, SQLITE_OPEN_READWRITE);
        configure_connection(db);
        migrate(db);
        keep_wal_files(db);
        return PublishCursor(std::move(db), stream);
    } catch (const SqliteError& failure) {
        throw StoreError(
            fmt::format("cannot open the event store {} to keep the publish "
                        "cursor: {}; pass --store with the path of an event store",
                        path, failure.what()));
    }
}

PublishCursor::PublishCursor(Database db, std::string stream)
    : db_(std::move(db)),
      stream_(std::move(stream)),
      select_(db_.prepare("SELECT sequence FROM publish_cursors WHERE stream = ?")),
      upsert_(db_.prepare(
          "INSERT INTO publish_cursors (stream, sequence, updated_at) VALUES (?, ?, ?) "
          "ON CONFLICT(stream) DO UPDATE SET sequence = max(sequence, excluded.sequence), "
          "updated_at = excluded.updated_at")) {}

int64_t PublishCursor::load() {
    select_.reset();
    select_.bind(1, std::string_view(stream_));
    const int64_t sequence = select_.step() ? select_.column_int(0) : 0;
    // A statement left on its row keeps its read transaction open. The -wal file could
    // then never be checkpointed past it and would grow without bound, and save() on this
    // connection would fail at once with SQLITE_BUSY once another connection committed.
    select_.reset();
    return sequence;
}

void PublishCursor::save(int64_t sequence, int64_t now_ms) {
    upsert_.reset();
    upsert_.bind(1, std::string_view(stream_));
    upsert_.bind(2, sequence);
    upsert_.bind(3, now_ms);
    upsert_.step();
    upsert_.reset();
}

}  // namespace pw::store
