#pragma once

#include <string>

namespace pw::agent {

// Creates the store file when it is missing and gives it, with its -wal and -shm files, to
// `reader_group` with mode 0640, so that only root and the group's members can read the store
// (`protowatch dump`, `search`). SQLite creates later -wal and -shm files
// with the database file's mode and owner. Needs CAP_CHOWN, so the agent calls it before it
// drops privileges. Throws StoreError, and changes nothing, when the file exists and
// store::check_store_file() rejects it, or when it or its -wal or -shm file belongs to a
// user other than root and the agent's. A missing group leaves the files their group. Other
// failures are logged, not thrown, since the store still works for root.
void restrict_store_access(const std::string& store_path, const std::string& reader_group);

// Gives the agent's --json file (not standard output) to `reader_group` with mode 0640, as
// the store, creating it empty when it is missing. Throws store::StoreError when it belongs
// to another user than root and the agent's. Call before privileges are dropped.
void restrict_events_file_access(const std::string& path, const std::string& reader_group);

}  // namespace pw::agent
