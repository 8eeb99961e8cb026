#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>

#include "query/compiler.h"
#include "store/sqlite.h"

namespace pw::report {

// Bounds on what a report contains, so that its size does not grow with the store.
struct Limits {
    size_t time_buckets = 120;    // columns of the protocol mix over time, at most
    size_t chart_protocols = 10;  // protocols drawn on their own there; the rest is "other"
    size_t top = 15;              // rows of each top list
    size_t table_rows = 500;      // connections written into the page's table
};

// Runs the report's aggregation queries on an event store and returns the page's data.
//
// A connection is counted once, by its last statistics event that matches `filter`. The
// counts are cumulative, so the last one contains the earlier ones. Each connection counts
// under its application protocol: the first protocol identified that is not a content type.
// The queries stage those connections in temporary tables of `db`'s connection, which
// works on a read-only connection. Throws store::SqliteError.
nlohmann::json aggregate(store::Database& db, const query::SqlFilter& filter,
                         const Limits& limits = {});

}  // namespace pw::report
