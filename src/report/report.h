#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "query/compiler.h"
#include "report/aggregate.h"

namespace pw::report {

// The scope, source and destination of one report.
struct ReportJob {
    std::string store_path;
    std::string store_label;  // names the store in the page; store_path when empty
    std::string output_path;
    query::SqlFilter filter;     // the statistics events the report counts
    std::string query_text;      // shown in the page; empty when there is none
    std::string search_command;  // prints every statistics event in scope; empty when none can
    nlohmann::json analysis;     // the counts of the analysis that wrote the events, or null
    Limits limits;
};

// The numbers a report's writer prints once the page is written.
struct ReportResult {
    int64_t connections = 0;
    size_t page_bytes = 0;
};

// Aggregates the job's connections in the store and writes the page. Throws
// store::StoreError for a missing or damaged store, store::SqliteError when a query fails,
// and std::runtime_error when the page cannot be written.
ReportResult write_report(const ReportJob& job);

// Returns `text` quoted for a POSIX shell.
std::string shell_quote(const std::string& text);

// Returns the `protowatch search` command that prints the statistics events of `query_text`
// (every one when it is empty) between the optional ISO 8601 bounds.
std::string search_command(const std::string& store_path, const std::string& query_text,
                           const std::string& since, const std::string& until);

}  // namespace pw::report
