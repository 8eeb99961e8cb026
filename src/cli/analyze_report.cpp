#include "cli/analyze_report.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <nlohmann/json.hpp>

#include "decode/packet.h"
#include "query/compiler.h"
#include "report/page.h"
#include "report/report.h"
#include "store/sqlite.h"

namespace pw::cli {
namespace {

nlohmann::json analysis_counts(const pipeline::Summary& summary, uint64_t unsupported_frames) {
    nlohmann::json anomalies = nlohmann::json::object();
    for (size_t i = 0; i < static_cast<size_t>(decode::Anomaly::kCount); ++i) {
        auto anomaly = static_cast<decode::Anomaly>(i);
        if (summary.anomalies.get(anomaly) > 0) {
            anomalies[decode::anomaly_name(anomaly)] = summary.anomalies.get(anomaly);
        }
    }
    // NOTE: the capture readers do not read the drop counts that pcapng interface statistics
    // blocks can carry, and pcap files have no field for them.
    return {{"frames", summary.frames},
            {"malformed", summary.malformed},
            {"not_tracked", summary.not_tracked},
            {"unsupported_frames", unsupported_frames},
            {"tcp_gaps", summary.tcp_gaps},
            {"flows_evicted", summary.flows_evicted},
            {"anomalies", anomalies},
            {"capture_drops_note",
             "Capture drops are not shown: protowatch does not read drop counts from capture "
             "files (pcap has no field for them)."}};
}

}  // namespace

AnalysisReport::AnalysisReport(std::string output_path, store::StoreOptions& store)
    : output_path_(std::move(output_path)) {
    report::check_output_path(output_path_, "--report");
    if (store.disabled) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "protowatch-report-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error(
                "failed to create a temporary directory for the report's "
                "store in " +
                std::filesystem::temp_directory_path().string());
        }
        temporary_directory_ = pattern;
        store.disabled = false;
        store.path = (temporary_directory_ / "events.db").string();
    }
    store_path_ = store.path.empty() ? store::default_store_path() : store.path;
}

AnalysisReport::~AnalysisReport() {
    if (temporary_directory_.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(temporary_directory_, ignored);
}

void AnalysisReport::mark_start() {
    try {
        store::Database db = store::Database::open(store_path_, SQLITE_OPEN_READONLY);
        last_sequence_before_ = db.query_int("SELECT coalesce(max(id), 0) FROM events");
    } catch (const store::SqliteError& error) {
        // The sink logs a store that failed to open; the report then fails the same way.
        spdlog::debug("report: failed to read the last event id of {}: {}", store_path_,
                      error.what());
    }
}

bool AnalysisReport::write(const pipeline::Summary& summary, uint64_t unsupported_frames) {
    std::string query_text = fmt::format("sequence > {}", last_sequence_before_);
    report::ReportJob job;
    job.store_path = store_path_;
    job.output_path = output_path_;
    job.filter = query::compile_query(query_text, 0);
    job.analysis = analysis_counts(summary, unsupported_frames);
    // A temporary store is gone when the page is read, so no command could search it.
    if (temporary_directory_.empty()) {
        job.search_command = report::search_command(store_path_, query_text, "", "");
    } else {
        job.store_label = "none (--no-store: the events were not kept)";
    }
    try {
        report::ReportResult result = report::write_report(job);
        spdlog::info("wrote report {} ({} connections, {} bytes)", output_path_, result.connections,
                     result.page_bytes);
        return true;
    } catch (const std::exception& error) {
        spdlog::error("failed to write the report {}: {}", output_path_, error.what());
        return false;
    }
}

}  // namespace pw::cli
