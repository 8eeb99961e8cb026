#pragma once

#include <cstdint>
#include <string>

#include "store/sqlite.h"

namespace pw::store {

// The outbox position of one JetStream stream, kept in the store's publish_cursors table: the
// sequence up to which every event was acknowledged. Opening it migrates the store, so that
// a store written by an older build gains the table.
class PublishCursor {
  public:
    // Opens the store at `path` for writing the cursor of `stream`. Throws StoreError when the
    // file is missing or is not an event store.
    static PublishCursor open(const std::string& path, const std::string& stream);

    // The acknowledged sequence; 0 before the first acknowledgment.
    int64_t load();
    // Stores `sequence` unless the stored value is already larger, so that two publishers of
    // one store never move the cursor back. Throws SqliteError.
    void save(int64_t sequence, int64_t now_ms);

  private:
    PublishCursor(Database db, std::string stream);
    Database db_;
    std::string stream_;
    Statement select_;
    Statement upsert_;
};

}  // namespace pw::store
