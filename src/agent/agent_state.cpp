#include "agent/agent_state.h"

#include <fmt/core.h>

#include <chrono>

namespace pw::agent {
namespace {

std::string endpoint(const decode::IpAddress& address, uint16_t port) {
    return address.is_v6 ? fmt::format("[{}]:{}", address.to_string(), port)
                         : fmt::format("{}:{}", address.to_string(), port);
}

}  // namespace

nlohmann::json process_json(const events::Process& process) {
    nlohmann::json object;
    if (!process.unattributed_reason.empty()) {
        object["unattributed_reason"] = process.unattributed_reason;
        return object;
    }
    object["pid"] = process.pid;
    object["name"] = process.name;
    object["executable"] = process.executable;
    object["command_line"] = process.command_line;
    object["uid"] = process.uid;
    object["user"] = process.user;
    return object;
}

namespace {

// The sum of one counter of the workers' summaries.
uint64_t total(const std::vector<WorkerStatus>& workers, uint64_t pipeline::Summary::*counter) {
    uint64_t sum = 0;
    for (const WorkerStatus& worker : workers) sum += worker.summary.*counter;
    return sum;
}

// CPU milliseconds per thousand frames.
double per_thousand(int64_t cpu_us, uint64_t frames) {
    if (frames == 0) return 0.0;
    return static_cast<double>(cpu_us) / 1000.0 / (static_cast<double>(frames) / 1000.0);
}

nlohmann::json capture_json(const StatusInputs& inputs) {
    nlohmann::json interfaces = nlohmann::json::array();
    uint64_t kernel_drops = 0;
    uint64_t interface_drops = 0;
    for (const capture::InterfaceCounters& counters : inputs.interfaces) {
        interfaces.push_back({{"name", counters.name},
                              {"open", counters.open},
                              {"error", counters.error},
                              {"packets", counters.packets},
                              {"kernel_drops", counters.kernel_drops},
                              {"interface_drops", counters.interface_drops},
                              {"reopens", counters.reopens}});
        kernel_drops += counters.kernel_drops;
        interface_drops += counters.interface_drops;
    }
    uint64_t unsupported = 0;
    for (const WorkerStatus& worker : inputs.workers) unsupported += worker.unsupported_frames;
    const auto& workers = inputs.workers;
    return {{"frames", total(workers, &pipeline::Summary::frames)},
            {"bytes", total(workers, &pipeline::Summary::bytes)},
            {"packets_tracked", total(workers, &pipeline::Summary::packets)},
            {"unsupported_link_frames", unsupported},
            {"malformed", total(workers, &pipeline::Summary::malformed)},
            {"kernel_drops", kernel_drops},
            {"interface_drops", interface_drops},
            {"intervals_with_drops", inputs.drop_intervals},
            {"interfaces", interfaces}};
}

// CPU use in total and per worker. The total covers the whole process, background threads
// (store, attribution, address updates, control socket) included; a worker's covers only
// its capture and analysis.
nlohmann::json cpu_json(const StatusInputs& inputs) {
    uint64_t frames = total(inputs.workers, &pipeline::Summary::frames);
    nlohmann::json workers = nlohmann::json::array();
    for (size_t i = 0; i < inputs.workers.size(); ++i) {
        const WorkerStatus& worker = inputs.workers[i];
        workers.push_back(
            {{"worker", i},
             {"packets", worker.summary.frames},
             {"handles", worker.handles},
             {"analysis_errors", worker.pipeline_errors},
             {"total_ms", static_cast<double>(worker.cpu_us) / 1000.0},
             {"ms_per_1000_packets", per_thousand(worker.cpu_us, worker.summary.frames)}});
    }
    return {{"total_ms", static_cast<double>(inputs.cpu_us) / 1000.0},
            {"ms_per_1000_packets", per_thousand(inputs.cpu_us, frames)},
            {"workers", workers}};
}

}  // namespace

nlohmann::json status_json(const StatusInputs& inputs) {
    const auto& workers = inputs.workers;
    nlohmann::json status;
    status["started_ms"] = inputs.started_ms;
    status["time_ms"] = inputs.now_ms;
    status["uptime_s"] = static_cast<double>(inputs.uptime_ms) / 1000.0;
    status["capture"] = capture_json(inputs);
    status["flows"] = {{"total", total(workers, &pipeline::Summary::flows)},
                       {"timed_out", total(workers, &pipeline::Summary::flows_timed_out)},
                       {"evicted", total(workers, &pipeline::Summary::flows_evicted)}};
    status["events"] = total(workers, &pipeline::Summary::events);
    status["cpu"] = cpu_json(inputs);

    if (inputs.store) {
        const StoreWriterStats& store = *inputs.store;
        status["store"] = {{"written", store.store.written},
                           {"committed", store.store.committed},
                           {"waiting", store.held},
                           {"failing", store.failing},
                           {"lost", store.store.lost},
                           {"removed_by_age", store.store.removed_by_age},
                           {"removed_by_size", store.store.removed_by_size}};
    }
    if (inputs.attribution) {
        const process::AttributionStats& a = *inputs.attribution;
        status["attribution"] = {{"lookups", a.lookups},
                                 {"attributed", a.attributed},
                                 {"early_lookups", a.early_lookups},
                                 {"socket_listings", a.refreshes},
                                 {"proc_scans", a.proc_scans},
                                 {"known_sockets", a.known_sockets},
                                 {"network_namespaces", a.namespaces},
                                 {"unreadable_namespaces", a.unreadable_namespaces}};
    }
    return status;
}

int64_t wall_clock_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

nlohmann::json connections_json(
    std::span<const pipeline::OpenFlow> flows, int64_t now_us,
    const std::function<const events::Process*(const std::string&)>& process_of) {
    nlohmann::json result = nlohmann::json::array();
    for (const pipeline::OpenFlow& flow : flows) {
        bool inbound = flow.direction == events::Direction::kInbound;
        nlohmann::json connection;
        connection["connection_uid"] = flow.connection_uid;
        connection["transport"] = decode::ip_protocol::name(flow.ip_protocol);
        connection["local"] = inbound ? endpoint(flow.target, flow.target_port)
                                      : endpoint(flow.source, flow.source_port);
        connection["remote"] = inbound ? endpoint(flow.source, flow.source_port)
                                       : endpoint(flow.target, flow.target_port);
        connection["local_port"] = inbound ? flow.target_port : flow.source_port;
        connection["remote_port"] = inbound ? flow.source_port : flow.target_port;
        connection["direction"] = inbound                                          ? "inbound"
                                  : flow.direction == events::Direction::kOutbound ? "outbound"
                                                                                   : "unknown";
        connection["state"] = flow.ip_protocol != 6 ? "active" : flow.closed ? "closed" : "open";
        nlohmann::json protocols = nlohmann::json::array();
        for (ProtocolId id : flow.protocols) protocols.push_back(std::string(protocol_name(id)));
        connection["protocols"] = protocols;
        connection["bytes_in"] = flow.bytes_in;
        connection["bytes_out"] = flow.bytes_out;
        connection["age_s"] = static_cast<double>(now_us - flow.first_us) / 1e6;
        if (const events::Process* process = process_of(flow.connection_uid)) {
            connection["process"] = process_json(*process);
        }
        result.push_back(std::move(connection));
    }
    return result;
}

}  // namespace pw::agent
