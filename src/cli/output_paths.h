#pragma once

#include <string>

namespace pw::cli {

// Returns whether two paths name one file, existing or not: spelled alike once made
// absolute, alike once links are resolved, or one file already.
bool same_file(const std::string& first, const std::string& second);

// Throws std::invalid_argument when `path`, the value of `option`, names the event store at
// `store` or one of SQLite's files beside it. Writing there would destroy the store: its
// write-ahead log contains commits not yet in the store file.
void check_output_is_not_store(const std::string& option, const std::string& path,
                               const std::string& store);

}  // namespace pw::cli
