#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "capture/live_capture.h"
#include "events/event.h"
#include "pipeline/pipeline.h"
#include "process/attributor.h"
#include "store/store_sink.h"

namespace pw::agent {

// What the agent's `status` reply is made of.
struct StatusInputs {
    pipeline::Summary summary;
    std::vector<capture::InterfaceCounters> interfaces;
    uint64_t unsupported_frames = 0;
    uint64_t drop_intervals = 0;
    int64_t cpu_us = 0;  // user and system CPU time of the agent (getrusage)
    int64_t uptime_ms = 0;
    int64_t started_ms = 0;
    int64_t now_ms = 0;
    std::optional<store::StoreStats> store;
    std::optional<process::AttributionStats> attribution;
};

nlohmann::json status_json(const StatusInputs& inputs);

// One object per open flow: transport, local and remote endpoint, state, process,
// protocols, bytes in and out, age. The local endpoint is the source unless the direction
// is inbound.
nlohmann::json connections_json(
    const std::vector<pipeline::OpenFlow>& flows, int64_t now_us,
    const std::function<const events::Process*(const std::string&)>& process_of);

// The JSON object of a process, as events carry it.
nlohmann::json process_json(const events::Process& process);

}  // namespace pw::agent
