#pragma once

#include <cstdint>

#include "pipeline/pipeline.h"

namespace pw::cli {

// Prints the end-of-run summary to stderr: packets, flows, protocols found, anomalies.
void print_summary(const pipeline::Summary& summary, uint64_t unsupported_frames);

}  // namespace pw::cli
