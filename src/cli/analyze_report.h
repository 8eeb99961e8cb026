#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "pipeline/pipeline.h"
#include "store/store_options.h"

namespace pw::cli {

// The report of `analyze --report FILE`: it covers the events of this run only, read back
// from the store the run writes to. With --no-store the run writes to a temporary store
// instead, removed with this object.
class AnalysisReport {
  public:
    // Checks the output path and, with --no-store, points `store` at a temporary store. Call
    // before the store sink opens. Throws std::invalid_argument for an unusable path.
    AnalysisReport(std::string output_path, store::StoreOptions& store);
    ~AnalysisReport();
    AnalysisReport(const AnalysisReport&) = delete;
    AnalysisReport& operator=(const AnalysisReport&) = delete;

    // Records the store's last row id, so the report leaves out earlier runs. Call after the
    // store sink opened the store and before the first event.
    void mark_start();

    // Writes the report with the analysis's counts; false after logging the failure.
    bool write(const pipeline::Summary& summary, uint64_t unsupported_frames);

  private:
    std::string output_path_;
    std::string store_path_;
    std::filesystem::path temporary_directory_;
    int64_t last_sequence_before_ = 0;
};

}  // namespace pw::cli
