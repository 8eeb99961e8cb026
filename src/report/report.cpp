#include "report/report.h"

#include "query/literals.h"
#include "report/page.h"
#include "store/sqlite.h"
#include "store/store_reader.h"

namespace pw::report {

ReportResult write_report(const ReportJob& job) {
    store::StoreReader reader = store::StoreReader::open(job.store_path);
    nlohmann::json data;
    try {
        data = aggregate(reader.database(), job.filter, job.limits);
    } catch (const store::SqliteError& error) {
        // A damaged page shows only when a query reaches it: name the store and what to do.
        throw store::describe_read_failure(job.store_path, error);
    }
    data["scope"] = {{"store", job.store_label.empty() ? job.store_path : job.store_label},
                     {"query", job.query_text},
                     {"search_command", job.search_command},
                     {"generated_ms", query::now_ms()}};
    data["analysis"] = job.analysis;
    std::string page = render_page(data);
    write_page(job.output_path, page);
    return {data["totals"]["connections"].get<int64_t>(), page.size()};
}

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'') {
            out += "'\\''";
        } else {
            out += c;
        }
    }
    return out + "'";
}

std::string search_command(const std::string& store_path, const std::string& query_text,
                           const std::string& since, const std::string& until) {
    std::string command = "protowatch search --store " + shell_quote(store_path);
    if (!since.empty()) command += " --since " + since;
    if (!until.empty()) command += " --until " + until;
    std::string query =
        query_text.empty() ? "id = statistics" : "id = statistics and (" + query_text + ")";
    return command + " " + shell_quote(query);
}

}  // namespace pw::report
