#include "agent/agent_state.h"

#include <fmt/core.h>

namespace pw::agent {
namespace {

std::string transport_name(uint8_t ip_protocol) {
    switch (ip_protocol) {
        case 6: return "tcp";
        case 17: return "udp";
        case 1: return "icmp";
        case 58: return "icmpv6";
        case 2: return "igmp";
        default: return std::to_string(ip_protocol);
    }
}

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

nlohmann::json status_json(const StatusInputs& inputs) {
    const pipeline::Summary& summary = inputs.summary;
    nlohmann::json status;
    status["started_ms"] = inputs.started_ms;
    status["time_ms"] = inputs.now_ms;
    status["uptime_s"] = static_cast<double>(inputs.uptime_ms) / 1000.0;

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
    status["capture"] = {{"frames", summary.frames},
                         {"bytes", summary.bytes},
                         {"packets_tracked", summary.packets},
                         {"unsupported_link_frames", inputs.unsupported_frames},
                         {"malformed", summary.malformed},
                         {"kernel_drops", kernel_drops},
                         {"interface_drops", interface_drops},
                         {"intervals_with_drops", inputs.drop_intervals},
                         {"interfaces", interfaces}};
    status["flows"] = {{"total", summary.flows},
                       {"timed_out", summary.flows_timed_out},
                       {"evicted", summary.flows_evicted}};
    status["events"] = summary.events;

    // CPU milliseconds per thousand frames: the cost of the capture and analysis together,
    // background threads (store, attribution, address updates) included.
    double cpu_ms = static_cast<double>(inputs.cpu_us) / 1000.0;
    double per_thousand = summary.frames == 0
                              ? 0.0
                              : cpu_ms / (static_cast<double>(summary.frames) / 1000.0);
    status["cpu"] = {{"total_ms", cpu_ms}, {"ms_per_1000_packets", per_thousand}};

    if (inputs.store) {
        status["store"] = {{"written", inputs.store->written},
                           {"committed", inputs.store->committed},
                           {"lost", inputs.store->lost}};
    }
    if (inputs.attribution) {
        const process::AttributionStats& a = *inputs.attribution;
        status["attribution"] = {{"lookups", a.lookups},
                                 {"attributed", a.attributed},
                                 {"socket_listings", a.refreshes},
                                 {"proc_scans", a.proc_scans},
                                 {"known_sockets", a.known_sockets},
                                 {"network_namespaces", a.namespaces},
                                 {"unreadable_namespaces", a.unreadable_namespaces}};
    }
    return status;
}

nlohmann::json connections_json(
    const std::vector<pipeline::OpenFlow>& flows, int64_t now_us,
    const std::function<const events::Process*(const std::string&)>& process_of) {
    nlohmann::json result = nlohmann::json::array();
    for (const pipeline::OpenFlow& flow : flows) {
        bool inbound = flow.direction == events::Direction::kInbound;
        nlohmann::json connection;
        connection["connection_uid"] = flow.connection_uid;
        connection["transport"] = transport_name(flow.ip_protocol);
        connection["local"] = inbound ? endpoint(flow.target, flow.target_port)
                                      : endpoint(flow.source, flow.source_port);
        connection["remote"] = inbound ? endpoint(flow.source, flow.source_port)
                                       : endpoint(flow.target, flow.target_port);
        connection["local_port"] = inbound ? flow.target_port : flow.source_port;
        connection["remote_port"] = inbound ? flow.source_port : flow.target_port;
        connection["direction"] = inbound ? "inbound"
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
