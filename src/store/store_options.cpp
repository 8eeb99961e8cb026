#include "store/store_options.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

#include "common/range_option.h"
#include "query/literals.h"
#include "store/retention.h"

namespace pw::store {
namespace {

std::string home_directory() {
    const char* home = std::getenv("HOME");
    if (home != nullptr && home[0] == '/') return home;
    const passwd* entry = getpwuid(getuid());
    if (entry != nullptr && entry->pw_dir != nullptr) return entry->pw_dir;
    return "/tmp";
}

CLI::Validator duration_validator() {
    return CLI::Validator(
        [](std::string& value) {
            if (query::parse_duration(value)) return std::string();
            return "invalid duration '" + value +
                   "'; use a count and a unit: 500ms, 30s, 10m, "
                   "12h, 30d, 2w, 0 for no limit";
        },
        "DURATION");
}

// --store-max-size: 0, or at least kMinRetentionBytes.
CLI::Validator retention_size_validator() {
    return CLI::Validator(
        [](std::string& value) {
            std::optional<uint64_t> size = query::parse_size(value);
            if (!size || *size == 0 || *size >= kMinRetentionBytes) return std::string();
            return "'" + value +
                   "' is below the smallest store size, 1MiB, under which retention would "
                   "delete nearly every event; use a size such as 1GB, or 0 for no limit";
        },
        "SIZE");
}

// --store-max-age: 0, or at least kMinRetentionAgeMs.
CLI::Validator retention_age_validator() {
    return CLI::Validator(
        [](std::string& value) {
            std::optional<int64_t> age = query::parse_duration(value);
            if (!age || *age == 0 || *age >= kMinRetentionAgeMs) return std::string();
            return "'" + value +
                   "' is below the shortest store age, 1m, under which retention would "
                   "delete events soon after they are stored; use an age such as 30d, or 0 "
                   "for no limit";
        },
        "DURATION");
}

// An empty --store would otherwise fall back to the default path without a word.
CLI::Validator store_path_validator() {
    return CLI::Validator(
        [](std::string& value) {
            if (!value.empty()) return std::string();
            return "the store path is empty; give the path of an event store file, or leave "
                   "out --store for the default " +
                   default_store_path();
        },
        "PATH");
}

}  // namespace

CLI::Validator size_validator() {
    return CLI::Validator(
        [](std::string& value) {
            if (query::parse_size(value)) return std::string();
            return "invalid size '" + value +
                   "'; use bytes or a suffix: 500MB, 2GB, 1GiB, 0 for "
                   "no limit";
        },
        "SIZE");
}

std::string default_store_path() {
    if (geteuid() == 0) return "/var/lib/protowatch/events.db";
    const char* data_home = std::getenv("XDG_DATA_HOME");
    // The XDG base directory specification ignores relative paths.
    std::string base = data_home != nullptr && data_home[0] == '/'
                           ? std::string(data_home)
                           : home_directory() + "/.local/share";
    return base + "/protowatch/events.db";
}

void add_store_path_option(CLI::App& command, std::string& path) {
    command.add_option("--store", path, "Event store file (default: " + default_store_path() + ")")
        ->check(store_path_validator());
}

void add_store_options(CLI::App& command, StoreOptions& options) {
    auto* store = command.add_option(
        "--store", options.path,
        "Event store file to record events in (default: " + default_store_path() + ")");
    store->check(store_path_validator());
    command.add_flag("--no-store", options.disabled, "Do not record events in the event store")
        ->excludes(store);
    command
        .add_option("--store-max-size", options.max_size,
                    "Delete the oldest events when the store's pages exceed this size "
                    "(KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024; at least 1MiB; 0: no "
                    "limit)")
        ->check(size_validator())
        ->check(retention_size_validator())
        ->capture_default_str();
    command
        .add_option("--store-max-age", options.max_age,
                    "Delete events stored longer ago than this (units ms, s, m, h, d, w; at "
                    "least 1m; 0: no limit)")
        ->check(duration_validator())
        ->check(retention_age_validator())
        ->capture_default_str();
    command
        .add_option("--store-batch", options.batch_size,
                    "Commit to the store after this many events")
        ->transform(range_validator(1, 1'000'000))
        ->capture_default_str();
    command
        .add_option("--store-commit-interval", options.commit_interval,
                    "Commit to the store at most this long after its first uncommitted "
                    "event (units ms, s, m, h, d, w); a kill of the process loses only "
                    "uncommitted events")
        ->check(duration_validator())
        ->capture_default_str();
}

StoreSettings store_settings(const StoreOptions& options) {
    StoreSettings settings;
    settings.path = options.path.empty() ? default_store_path() : options.path;
    settings.retention.max_bytes = query::parse_size(options.max_size).value_or(0);
    settings.retention.max_age_ms = query::parse_duration(options.max_age).value_or(0);
    settings.batch_size = options.batch_size;
    settings.commit_interval =
        std::chrono::milliseconds(query::parse_duration(options.commit_interval).value_or(1000));
    return settings;
}

std::unique_ptr<StoreSink> open_store_sink(const StoreOptions& options) {
    if (options.disabled) return nullptr;
    return std::make_unique<StoreSink>(store_settings(options));
}

}  // namespace pw::store
