#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "store/store_sink.h"

namespace pw::store {

// The store options of a command that records events.
struct StoreOptions {
    std::string path;  // empty: default_store_path()
    bool disabled = false;
    std::string max_size = "1GB";
    std::string max_age = "30d";
    uint64_t batch_size = 1000;
    std::string commit_interval = "1s";
};

// The store used when no --store is given: /var/lib/protowatch/events.db for root, else
// $XDG_DATA_HOME/protowatch/events.db, else ~/.local/share/protowatch/events.db.
std::string default_store_path();

// Checks a size option: bytes, or a count with KB/MB/GB (powers of 1000) or KiB/MiB/GiB
// (powers of 1024), and 0 for no limit.
CLI::Validator size_validator();

// Adds --store, --no-store, --store-max-size, --store-max-age, --store-batch and
// --store-commit-interval to `command`.
void add_store_options(CLI::App& command, StoreOptions& options);

// Adds only --store, for commands that read the store.
void add_store_path_option(CLI::App& command, std::string& path);

// The settings of the store the options describe (ignoring `disabled`).
StoreSettings store_settings(const StoreOptions& options);

// Opens the sink the options describe; nullptr for --no-store. A store that fails to open
// still yields a sink, which logs the failure and counts every event as lost.
std::unique_ptr<StoreSink> open_store_sink(const StoreOptions& options);

}  // namespace pw::store
