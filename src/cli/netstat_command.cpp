// `protowatch netstat`: the machine's current connections with their processes, and from a
// running agent also the protocols identified so far and the bytes each way.

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "agent/agent_state.h"
#include "cli/commands.h"
#include "common/ascii.h"
#include "control/client.h"
#include "detect/protocols.h"
#include "process/attributor.h"

namespace pw::cli {
namespace {

constexpr int kExitUsage = 2;

struct NetstatOptions {
    std::string socket_path = control::default_socket_path();
    std::string process;  // a name or a pid
    int port = 0;
    std::string protocol;
    bool watch = false;
    double interval_s = 2;
    bool json = false;
    bool all_namespaces = false;  // without the agent: the sockets of every network namespace
};

volatile std::sig_atomic_t stop_watching = 0;

void request_stop(int) { stop_watching = 1; }

std::string endpoint(const decode::IpAddress& address, uint16_t port) {
    return address.is_v6 ? fmt::format("[{}]:{}", address.to_string(), port)
                         : fmt::format("{}:{}", address.to_string(), port);
}

// The sockets of every readable namespace, shaped like the agent's connections, without
// protocols or bytes.
nlohmann::json socket_rows() {
    process::AttributorOptions options;
    options.poll_interval = std::chrono::milliseconds(0);
    process::ProcessAttributor attributor(options);
    nlohmann::json rows = nlohmann::json::array();
    for (const process::OwnedSocket& owned : attributor.current_sockets()) {
        const process::SocketEntry& socket = owned.socket;
        nlohmann::json row;
        row["transport"] = socket.ip_protocol == 6 ? "tcp" : "udp";
        row["local"] = endpoint(socket.local, socket.local_port);
        row["remote"] = endpoint(socket.remote, socket.remote_port);
        row["local_port"] = socket.local_port;
        row["remote_port"] = socket.remote_port;
        row["state"] = process::socket_state_name(socket.ip_protocol, socket.state);
        row["network_namespace"] = owned.network_namespace;
        if (owned.process) row["process"] = agent::process_json(*owned.process);
        rows.push_back(std::move(row));
    }
    return rows;
}

// The inode of this process's network namespace, 0 when it cannot be read.
uint64_t own_network_namespace() {
    struct stat status {};
    return stat("/proc/self/ns/net", &status) == 0 ? static_cast<uint64_t>(status.st_ino) : 0;
}

bool matches(const nlohmann::json& row, const NetstatOptions& options) {
    if (options.port != 0 && row.value("local_port", 0) != options.port &&
        row.value("remote_port", 0) != options.port) {
        return false;
    }
    if (!options.process.empty()) {
        if (!row.contains("process")) return false;
        const nlohmann::json& process = row["process"];
        bool by_name = process.value("name", "") == options.process;
        bool by_pid = std::to_string(process.value("pid", int64_t{0})) == options.process;
        if (!by_name && !by_pid) return false;
    }
    if (!options.protocol.empty()) {
        bool found = false;
        for (const nlohmann::json& name : row.value("protocols", nlohmann::json::array())) {
            found = found || name.get<std::string>() == options.protocol;
        }
        if (!found) return false;
    }
    return true;
}

std::string process_cell(const nlohmann::json& row) {
    if (!row.contains("process")) return "-";
    const nlohmann::json& process = row["process"];
    // The reason a connection has no process is in --json: it would not fit the column.
    if (!process.contains("pid")) return "?";
    // Any local user names its own processes, so the name may hold terminal control codes.
    return fmt::format("{}/{}", process["pid"].get<int64_t>(),
                       terminal_safe(process["name"].get<std::string>()));
}

// With `namespaces`, a NETNS column gives each socket's network namespace (its inode, as
// `ls -L -i /proc/PID/ns/net` shows it).
void print_table(const nlohmann::json& rows, bool from_agent, bool namespaces) {
    if (from_agent) {
        fmt::print("{:<6} {:<28} {:<28} {:<7} {:<22} {:<24} {:>10} {:>10} {:>8}\n", "PROTO",
                   "LOCAL", "REMOTE", "STATE", "PROCESS", "PROTOCOLS", "IN", "OUT", "AGE");
    } else {
        fmt::print("{:<6} {:<28} {:<28} {:<11} {}{}\n", "PROTO", "LOCAL", "REMOTE", "STATE",
                   namespaces ? fmt::format("{:<11} ", "NETNS") : "", "PROCESS");
    }
    for (const nlohmann::json& row : rows) {
        std::string local = row["local"], remote = row["remote"], state = row["state"];
        if (!from_agent) {
            std::string network_namespace =
                namespaces ? fmt::format("{:<11} ", row.value("network_namespace", uint64_t{0}))
                           : "";
            fmt::print("{:<6} {:<28} {:<28} {:<11} {}{}\n", row["transport"].get<std::string>(),
                       local, remote, state, network_namespace, process_cell(row));
            continue;
        }
        std::string protocols;
        for (const nlohmann::json& name : row["protocols"]) {
            if (!protocols.empty()) protocols += ",";
            protocols += name.get<std::string>();
        }
        fmt::print("{:<6} {:<28} {:<28} {:<7} {:<22} {:<24} {:>10} {:>10} {:>7.1f}s\n",
                   row["transport"].get<std::string>(), local, remote, state, process_cell(row),
                   protocols.empty() ? "-" : protocols, row["bytes_in"].get<uint64_t>(),
                   row["bytes_out"].get<uint64_t>(), row["age_s"].get<double>());
    }
}

// The running agent's connections, or nothing with the reason in `why_not` when no agent
// listens on the control socket or the call fails.
std::optional<nlohmann::json> agent_connections(const std::string& socket_path,
                                                std::string& why_not) {
    try {
        control::ControlClient client(socket_path);
        nlohmann::json connections = nlohmann::json::array();
        client.call("netstat", nlohmann::json::object(),
                    [&connections](const nlohmann::json& item) { connections.push_back(item); });
        return connections;
    } catch (const control::ClientError& error) {
        why_not = error.what();
        return std::nullopt;
    }
}

// Prints the connections once. Returns the exit status.
int show(const NetstatOptions& options) {
    std::string why_not;
    std::optional<nlohmann::json> connections = agent_connections(options.socket_path, why_not);
    if (!connections && !options.protocol.empty()) {
        spdlog::error("--protocol needs the running agent, which identifies protocols: {}",
                      why_not);
        return 1;
    }
    nlohmann::json rows = connections ? *connections : socket_rows();
    // Like ss, sock_diag's listing shows this network namespace's sockets, unless asked for all.
    const uint64_t own_namespace =
        connections || options.all_namespaces ? 0 : own_network_namespace();
    nlohmann::json shown = nlohmann::json::array();
    for (const nlohmann::json& row : rows) {
        if (own_namespace != 0 && row.value("network_namespace", uint64_t{0}) != own_namespace) {
            continue;
        }
        if (matches(row, options)) shown.push_back(row);
    }
    if (options.json) {
        for (const nlohmann::json& row : shown)
            fmt::print("{}\n", row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
        print_table(shown, connections.has_value(), options.all_namespaces);
    }
    if (!connections) {
        fmt::print(stderr,
                   "sockets from sock_diag only: protocols and bytes need the running "
                   "agent ({})\n",
                   why_not);
    }
    std::fflush(stdout);
    return 0;
}

int run_netstat(const NetstatOptions& options) {
    if (!options.protocol.empty() && !parse_protocol(options.protocol)) {
        spdlog::error("unknown protocol '{}'; `protowatch protocols` lists the names",
                      options.protocol);
        return kExitUsage;
    }
    if (!options.watch) return show(options);

    std::signal(SIGINT, request_stop);
    std::signal(SIGTERM, request_stop);
    bool terminal = isatty(STDOUT_FILENO) == 1;
    int status = 0;
    while (stop_watching == 0) {
        // Home the cursor and clear the screen, so each refresh replaces the last one.
        if (terminal) fmt::print("\x1b[H\x1b[2J");
        status = show(options);
        if (status != 0) break;
        std::this_thread::sleep_for(
            std::chrono::milliseconds(static_cast<int64_t>(options.interval_s * 1000)));
    }
    return status;
}

}  // namespace

void register_netstat(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<NetstatOptions>();
    CLI::App* command = app.add_subcommand(
        "netstat", "List current connections with their processes and protocols");
    command->add_option("--control-socket", options->socket_path,
                        fmt::format("The running agent's control socket (default: ${} or {})",
                                    control::kSocketPathVariable, control::kDefaultSocketPath));
    command->add_option("--process", options->process, "Only connections of this name or pid");
    command->add_option("--port", options->port, "Only connections with this local or remote port")
        ->transform(range_validator(1, 65535));
    command->add_option("--protocol", options->protocol,
                        "Only connections where this protocol was identified (needs the agent)");
    command->add_flag("-w,--watch", options->watch, "Refresh in place until interrupted");
    command->add_option("--interval", options->interval_s, "Seconds between refreshes of --watch")
        ->capture_default_str()
        ->check(seconds_validator(false));
    command->add_flag("--json", options->json, "Print one JSON object per connection");
    command->add_flag("--all-namespaces", options->all_namespaces,
                      "Without the agent, list the sockets of every network namespace, with a "
                      "NETNS column, rather than of this one");
    command->callback([options, &exit_code] {
        try {
            exit_code = run_netstat(*options);
        } catch (const std::exception& error) {
            spdlog::error("{}", error.what());
            exit_code = 1;
        }
    });
}

}  // namespace pw::cli
