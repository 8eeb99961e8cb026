#pragma once

#include <cstdint>

#include "store/sqlite.h"

namespace pw::store {

// The smallest limits a command line or policy may set other than 0, so that a value
// missing its unit (--store-max-size 1) cannot delete every event of the store.
constexpr uint64_t kMinRetentionBytes = 1 << 20;
constexpr int64_t kMinRetentionAgeMs = 60'000;

// Limits on what the store keeps; zero disables a limit.
struct RetentionPolicy {
    // Bytes of database pages in use (the WAL file and free pages not counted).
    uint64_t max_bytes = 0;
    // Age counted from when an event was stored, not from its packet time, so that analyzing
    // an old capture keeps its events.
    int64_t max_age_ms = 0;
};

struct RetentionResult {
    uint64_t removed_by_age = 0;
    uint64_t removed_by_size = 0;
};

// Bytes of pages in use: page_count minus freelist_count, times page_size.
uint64_t used_bytes(Database& db);

// Deletes the oldest events (lowest id first) until both limits hold, each pass in its own
// transaction, then returns freed pages to the file system. Logs what it removed.
RetentionResult enforce_retention(Database& db, const RetentionPolicy& policy, int64_t now_ms);

}  // namespace pw::store
