#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "agent/store_writer.h"
#include "capture/live_capture.h"
#include "events/event.h"
#include "pipeline/pipeline.h"
#include "process/attributor.h"

namespace pw::agent {

// A capture worker's part of the `status` reply.
struct WorkerStatus {
    pipeline::Summary summary;
    int64_t cpu_us = 0;  // CPU time of the worker's thread
    uint64_t unsupported_frames = 0;
    uint64_t pipeline_errors = 0;  // frames whose analysis threw
    size_t handles = 0;            // interface handles the worker reads
};

// What the agent's `status` reply is made of.
struct StatusInputs {
    std::vector<WorkerStatus> workers;
    std::vector<capture::InterfaceCounters> interfaces;
    uint64_t drop_intervals = 0;
    int64_t cpu_us = 0;  // user and system CPU time of the whole agent (getrusage)
    int64_t uptime_ms = 0;
    int64_t started_ms = 0;
    int64_t now_ms = 0;
    std::optional<StoreWriterStats> store;
    std::optional<process::AttributionStats> attribution;
};

nlohmann::json status_json(const StatusInputs& inputs);

// Microseconds since the epoch by the system clock, as packet times are.
int64_t wall_clock_us();

// One object per open flow: transport, local and remote endpoint, state, process,
// protocols, bytes in and out, age. The local endpoint is the source unless the direction
// is inbound.
nlohmann::json connections_json(
    std::span<const pipeline::OpenFlow> flows, int64_t now_us,
    const std::function<const events::Process*(const std::string&)>& process_of);

// The JSON object of a process, as events carry it.
nlohmann::json process_json(const events::Process& process);

}  // namespace pw::agent
