// `protowatch agent`: captures live on the machine's interfaces and records every
// connection with its process in the store.

#include <spdlog/spdlog.h>

#include <csignal>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "query/literals.h"

namespace pw::cli {
namespace {

// Usage errors exit 2, as in every command.
constexpr int kExitUsage = 2;

struct AgentOptions {
    agent::AgentConfig config;
    std::vector<std::string> local_networks;
    std::string buffer_size = "8MiB";
    int64_t attribution_poll_ms = 100;
    bool no_attribution = false;
};

// Fills the parts of the configuration that need checking beyond what CLI11 checks.
// Throws std::invalid_argument naming the value.
void complete_config(AgentOptions& options) {
    agent::AgentConfig& config = options.config;
    auto size = query::parse_size(options.buffer_size);
    if (!size || *size < 65536 || *size > (1ull << 31) - 1) {
        throw std::invalid_argument("invalid --buffer-size '" + options.buffer_size +
                                    "'; use a size from 64KiB to 2GiB, such as 8MiB");
    }
    config.capture.buffer_size = static_cast<int>(*size);
    for (const std::string& name : config.interfaces) {
        if (name.empty() || name.size() >= 16 || name.find('/') != std::string::npos ||
            name.find(' ') != std::string::npos) {
            throw std::invalid_argument("invalid --interface '" + name +
                                        "'; an interface name has 1 to 15 characters without "
                                        "'/' or spaces (see `ip link`)");
        }
    }
    for (const std::string& text : options.local_networks) {
        config.settings.local_networks.push_back(pipeline::Cidr::parse(text));
    }
    config.attribute_processes = !options.no_attribution;
    config.attribution.poll_interval = std::chrono::milliseconds(options.attribution_poll_ms);
    if (config.state_path.empty()) config.state_path = agent::default_state_path();
}

int run_agent(AgentOptions& options) {
    try {
        complete_config(options);
    } catch (const std::invalid_argument& error) {
        spdlog::error("{}", error.what());
        return kExitUsage;
    }
    install_stop_handlers();
    try {
        agent::Agent agent(options.config);
        return agent.run(&stop_requested);
    } catch (const std::invalid_argument& error) {
        // An invalid --filter is found when the first interface compiles it.
        spdlog::error("{}", error.what());
        return kExitUsage;
    }
}

}  // namespace

void register_agent(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<AgentOptions>();
    agent::AgentConfig& config = options->config;
    CLI::App* command = app.add_subcommand(
        "agent", "Capture live traffic, attribute connections to processes and record events");
    command
        ->add_option("-i,--interface", config.interfaces,
                     "Interfaces to capture on, separated by commas (default: all, through "
                     "the 'any' device); a missing one is retried every 2 s")
        ->delimiter(',');
    command->add_option("--filter", config.capture.filter,
                        "BPF filter expression (tcpdump syntax) for every interface");
    command->add_option("--buffer-size", options->buffer_size,
                        "Size of each interface's kernel capture ring, with a suffix (KiB, MiB)")
        ->capture_default_str();
    command->add_flag("!--no-immediate", config.capture.immediate,
                      "Let the kernel batch packets for up to 100 ms instead of delivering each "
                      "at once (less CPU, later attribution)");
    command->add_option("--stats-interval", config.settings.statistics_interval_s,
                        "Seconds between cumulative statistics events of long connections "
                        "(0: only at the end)")
        ->capture_default_str()
        ->check(seconds_validator(true));
    command
        ->add_option("--local-net", options->local_networks,
                     "Networks to treat as local besides the machine's own addresses, as CIDRs "
                     "separated by commas")
        ->delimiter(',');
    command->add_option("--json", config.json_path,
                        "Also write events as JSON Lines to this file ('-' for stdout)");
    command->add_option("--state-file", config.state_path,
                        "File where the agent keeps the state that `status` and `netstat` read "
                        "(default: /run/protowatch/agent.json for root)");
    command->add_option("--device", config.settings.device, "Device name written into every event");
    command->add_flag("--no-attribution", options->no_attribution,
                      "Do not look up the process of each connection");
    command->add_option("--attribution-poll-ms", options->attribution_poll_ms,
                        "Milliseconds between listings of every socket, which keep sockets that "
                        "close quickly attributable (0: list only on a miss)")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{0}, int64_t{60'000}));
    store::add_store_options(*command, config.store);
    command->callback([options, &exit_code] {
        try {
            exit_code = run_agent(*options);
        } catch (const std::exception& error) {
            spdlog::error("{}", error.what());
            exit_code = 1;
        }
    });
}

}  // namespace pw::cli
