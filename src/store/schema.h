#pragma once

#include <string>

#include "store/sqlite.h"

namespace pw::store {

// The schema version this build writes and reads (PRAGMA user_version).
inline constexpr int kSchemaVersion = 3;

// The oldest version a reader accepts without migrating. Version 2 only added the
// audit_events table, so a version 1 store reads as a store without audit events.
inline constexpr int kMinReadableSchemaVersion = 1;

// Thrown when a file cannot serve as an event store; the message names the path and what to
// do about it.
class StoreError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Reads the schema version of a store about to be written; 0 for a new file. Throws
// StoreError when the file is another program's database or is newer than this build.
int64_t writable_schema_version(Database& db);

// Brings a store opened for writing to kSchemaVersion, creating it when the file is new. Each
// migration runs in its own transaction, so a crash leaves the store at a whole version.
// Throws StoreError, before it changes the file, when writable_schema_version() rejects it.
void migrate(Database& db);

// Checks that a store opened for reading is at a version from kMinReadableSchemaVersion to
// kSchemaVersion. Throws StoreError otherwise.
void check_schema_for_reading(Database& db);

// The connection settings every store connection uses: WAL, a busy timeout so that a reader
// and a writer (or two writers) wait for each other instead of failing.
void configure_connection(Database& db);

// Keeps the -wal and -shm files when this read-write connection is the last to close, so
// that a user who may not write the directory (a user reading root's store) can still open
// the store read-only.
void keep_wal_files(Database& db);

}  // namespace pw::store
