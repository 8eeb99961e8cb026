#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "common/heap_meter.h"
#include "flow/reassembly_memory.h"

namespace pw::pipeline {

// Adds the heap the calling thread allocates, less what it frees, while it lives to `total`
// (heap_meter::thread_bytes). The pipeline measures with it what detectors hold.
class HeapChange {
  public:
    explicit HeapChange(int64_t& total) : total_(total), start_(heap_meter::thread_bytes) {}
    ~HeapChange() { total_ += heap_meter::thread_bytes - start_; }
    HeapChange(const HeapChange&) = delete;
    HeapChange& operator=(const HeapChange&) = delete;

  private:
    int64_t& total_;
    int64_t start_;
};

// Counts of the memory bound (--max-memory) over a run.
struct MemoryReport {
    uint64_t limit_bytes = 0;  // 0: no bound
    uint64_t peak_bytes = 0;   // the largest accounted use after a frame's eviction, of every
                               // pipeline together when they share the bound
    uint64_t flows_evicted = 0;
    uint64_t fragment_sets_evicted = 0;       // incomplete IP datagrams dropped
    uint64_t reassembly_buffers_evicted = 0;  // streams whose out-of-order data was dropped
    uint64_t reassembly_bytes_evicted = 0;

    uint64_t evictions() const {
        return flows_evicted + fragment_sets_evicted + reassembly_buffers_evicted;
    }
};

// The accounting of one pipeline's memory for flows, IP fragments and TCP reassembly
// buffers, against one limit for all three. The pipeline evicts while over() is true.
class MemoryBound {
  public:
    explicit MemoryBound(size_t limit_bytes);

    // The out-of-order data of every stream of the pipeline's flows.
    flow::ReassemblyMemory& reassembly() { return reassembly_; }
    const flow::ReassemblyMemory& reassembly() const { return reassembly_; }

    bool over(size_t used) const { return report_.limit_bytes > 0 && used > report_.limit_bytes; }
    // Records `used` bytes in use after eviction, for the peak.
    void record(size_t used);

    void count_flow() { ++report_.flows_evicted; }
    void count_fragment_set() { ++report_.fragment_sets_evicted; }
    void count_reassembly(size_t bytes);

    // Logs the eviction counts so far: at the first eviction, then at most every 10 s.
    void log_evictions();

    const MemoryReport& report() const { return report_; }

  private:
    flow::ReassemblyMemory reassembly_;
    MemoryReport report_;
    std::chrono::steady_clock::time_point last_log_{};
    uint64_t evictions_logged_ = 0;
};

}  // namespace pw::pipeline
