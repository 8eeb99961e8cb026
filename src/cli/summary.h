#pragma once

#include <cstdint>

#include "pipeline/pipeline.h"
#include "store/store_sink.h"

namespace pw::cli {

// Prints the end-of-run summary to stderr: packets, flows, protocols found, anomalies, the
// memory bound's evictions, with `store` (null without a store) the events it lost, and
// with `output_closed` that the reading stopped because the --json reader went away.
void print_summary(const pipeline::Summary& summary, uint64_t unsupported_frames,
                   const store::StoreStats* store, bool output_closed = false);

}  // namespace pw::cli
