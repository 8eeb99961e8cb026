// `protowatch agent`: captures live on the machine's interfaces and records every
// connection with its process in the store. With --policy it takes its settings from the
// policy file, follows policy changes and serves the policy commands; in every case it
// serves `status` and `netstat` on the control socket.

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/agent_commands.h"
#include "agent/agent_fleet.h"
#include "agent/policy_config.h"
#include "agent/store_access.h"
#include "cli/commands.h"
#include "control/client.h"
#include "control/policy_commands.h"
#include "control/server.h"
#include "daemon/privileges.h"
#include "daemon/signals.h"
#include "policy/policy_holder.h"
#include "policy/policy_values.h"
#include "query/literals.h"
#include "store/store_options.h"

namespace pw::cli {
namespace {

// Usage errors exit 2, as in every command.
constexpr int kExitUsage = 2;
// As for events that could not be stored (agent::Agent::run()).
constexpr int kExitAuditLost = 3;

struct AgentOptions {
    agent::AgentConfig config;
    std::string policy_path;
    std::string socket_path = control::default_socket_path();
    bool keep_privileges = false;
    std::vector<std::string> local_networks;
    std::string buffer_size = "32MiB";  // the policy's capture.buffer_size default
    std::string max_memory = "256MiB";
    int64_t attribution_poll_ms = 100;
    bool no_attribution = false;
};

// Fills the parts of the configuration that need checking beyond what CLI11 checks.
// Throws std::invalid_argument naming the value.
void complete_config(AgentOptions& options) {
    agent::AgentConfig& config = options.config;
    // The range of the policy's capture.buffer_size, which policy_values.h explains.
    auto size = query::parse_size(options.buffer_size);
    if (!size || *size < policy::kMinCaptureBuffer || *size > policy::kMaxCaptureBuffer) {
        throw std::invalid_argument("invalid --buffer-size '" + options.buffer_size +
                                    "'; use a size from 1MiB to 2147483647 bytes (2GiB less "
                                    "one byte), such as 32MiB");
    }
    config.capture.buffer_size = static_cast<int>(*size);
    auto memory = query::parse_size(options.max_memory);
    if (!memory || (*memory != 0 && *memory < policy::kMinFlowMemory)) {
        throw std::invalid_argument("invalid --max-memory '" + options.max_memory +
                                    "'; use 0 for no bound or a size of at least 1MiB, such as "
                                    "256MiB");
    }
    config.settings.max_memory_bytes = *memory;
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
}

// The options the policy decides; given together with --policy they are a usage error, so
// that nobody wonders which of the two is in force.
struct PolicyKey {
    const char* option;
    const char* key;
};
constexpr PolicyKey kPolicyKeys[] = {
    {"--interface", "[capture] interfaces"},
    {"--filter", "[capture] bpf_filter"},
    {"--buffer-size", "[capture] buffer_size"},
    {"--stats-interval", "[recording] statistics_interval"},
    {"--store", "[store] path"},
    {"--no-store", "[store] path"},
    {"--store-max-size", "[store] max_size"},
    {"--store-max-age", "[store] max_age"},
    {"--max-memory", "[flows] max_memory"},
};

// Throws std::invalid_argument naming the first option that --policy replaces.
void reject_policy_options(const CLI::App& command) {
    for (const PolicyKey& entry : kPolicyKeys) {
        if (command.count(entry.option) == 0) continue;
        throw std::invalid_argument(std::string(entry.option) +
                                    " cannot be combined with --policy; set " + entry.key +
                                    " in the policy file instead (docs/policy.md)");
    }
}

// Handles the pending signals: SIGHUP reloads the policy, SIGTERM and SIGINT ask to stop.
// Returns true once the agent should stop.
bool handle_signals(daemon::SignalWatcher& signals, policy::PolicyHolder* holder) {
    while (std::optional<daemon::ReceivedSignal> signal = signals.wait(0)) {
        if (signal->number != SIGHUP) {
            spdlog::info("stopping on signal {}", strsignal(signal->number));
            return true;
        }
        if (holder == nullptr) {
            spdlog::warn("SIGHUP ignored: the agent runs without --policy, so there is no "
                         "policy file to reload");
            continue;
        }
        control::PeerCredentials sender =
            control::resolve_user(signal->sender_uid, static_cast<gid_t>(-1));
        // An invalid policy is logged by reload() with its line and key; the old one stays.
        holder->reload({sender.uid, sender.user, signal->sender_pid});
    }
    return false;
}

// Connects the policy holder to the agent: audit events go to the policy's store, and a
// change of the recording rules or of the capture reaches the agent at once.
void follow_policy(policy::PolicyHolder& holder, agent::Agent& agent,
                   std::shared_ptr<policy::AuditOutbox> audit) {
    holder.set_audit_recorder(policy::store_audit_recorder(std::move(audit)));
    // The policy the agent started with, and the one whose capture it applied last; the
    // listeners run one at a time, under the holder's lock.
    auto running = std::make_shared<policy::Policy>(*holder.current());
    auto applied = std::make_shared<policy::Policy>(*holder.current());
    holder.add_listener([&agent, running, applied](const policy::Policy& next) {
        agent.set_recording_rules(policy::RecordingRules::from(next));
        if (agent::capture_changed(*applied, next)) {
            try {
                agent.set_capture(next.interfaces, next.bpf_filter,
                                  static_cast<int>(next.capture_buffer_bytes));
                spdlog::info("capture settings of the new policy applied");
            } catch (const std::invalid_argument& error) {
                // The policy parser compiled the filter already, so this is unexpected.
                spdlog::error("the new capture settings cannot be applied: {}", error.what());
            }
        }
        *applied = next;
        if (agent::needs_restart(*running, next)) {
            spdlog::warn("the new policy changes store, statistics interval, memory bound "
                         "or fleet settings, which take effect when the agent restarts");
        }
        if (next.reader_group != running->reader_group) {
            spdlog::warn(
                "the store keeps group {} until the agent restarts, since giving it to "
                "group {} needs a privilege the agent dropped",
                running->reader_group, next.reader_group);
        }
    });
}

// Returns the agent's name in the fleet: --device, else the host name.
std::string device_name(const agent::AgentConfig& config) {
    if (!config.settings.device.empty()) return config.settings.device;
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) return "unknown";
    return host;
}

// Starts the agent's part in the fleet from a thread of its own, and tries again every
// kRetryInterval while it fails. The publisher and the search responder open the store, which
// another process may hold locked when the agent starts, so each try can wait out SQLite's
// busy timeout.
class FleetStarter {
public:
    static constexpr std::chrono::seconds kRetryInterval{10};

    FleetStarter(policy::NatsSettings nats, std::string store_path, std::string device)
        : nats_(std::move(nats)), store_path_(std::move(store_path)), device_(std::move(device)) {
        thread_ = std::thread([this] { run(); });
    }
    ~FleetStarter() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
        fleet_.reset();  // stops publishing and answering
    }

private:
    void run() {
        std::string last_error;
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            try {
                fleet_ = std::make_unique<agent::AgentFleet>(nats_, store_path_, device_);
                if (!last_error.empty()) {
                    spdlog::info("fleet: started after an earlier failure ({})", last_error);
                }
                return;
            } catch (const std::exception& error) {
                if (last_error != error.what()) {
                    spdlog::error("fleet: cannot start publishing and answering searches: {}; "
                                  "retrying every {} s",
                                  error.what(), kRetryInterval.count());
                }
                last_error = error.what();
            }
            lock.lock();
            wake_.wait_for(lock, kRetryInterval, [this] { return stopping_; });
        }
    }

    policy::NatsSettings nats_;
    std::string store_path_;
    std::string device_;
    std::unique_ptr<agent::AgentFleet> fleet_;  // written by the thread, read after join
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

int serve(AgentOptions& options, daemon::SignalWatcher& signals) {
    spdlog::debug("open file limit: {}", daemon::raise_open_file_limit());
    std::unique_ptr<policy::PolicyHolder> holder;
    control::ServerSettings server_settings;
    server_settings.socket_path = options.socket_path;
    if (!options.policy_path.empty()) {
        holder = policy::PolicyHolder::load(options.policy_path);
        agent::apply_policy(*holder->current(), options.config);
        server_settings.groups = {holder->current()->admin_group,
                                  holder->current()->reader_group};
    }
    control::ControlServer server(server_settings);
    // Bound before privileges go: giving the socket to the reader group needs CAP_CHOWN.
    server.listen();
    // The store likewise: readable by the reader group only.
    if (!options.config.store.disabled) {
        agent::restrict_store_access(store::store_settings(options.config.store).path,
                                     server_settings.groups.reader_group);
    }
    agent::restrict_events_file_access(options.config.json_path,
                                       server_settings.groups.reader_group);
    if (!options.keep_privileges) {
        // Attribution enters other network namespaces to find their sockets (setns).
        bool setns = options.config.attribute_processes;
        options.config.after_capture_open = [setns] {
            daemon::drop_privileges({daemon::agent_capabilities(setns), ""});
        };
    }
    agent::Agent agent(options.config);
    std::shared_ptr<policy::AuditOutbox> audit;
    if (holder != nullptr) {
        holder->set_device(device_name(options.config));
        audit = std::make_shared<policy::AuditOutbox>(options.config.store.path);
        follow_policy(*holder, agent, audit);
        control::register_policy_commands(server, *holder);
    }
    agent::register_agent_commands(server, agent);
    server.start();
    std::unique_ptr<FleetStarter> fleet;
    if (holder != nullptr && !holder->current()->nats.servers.empty()) {
        fleet = std::make_unique<FleetStarter>(holder->current()->nats, options.config.store.path,
                                               device_name(options.config));
    }
    int status = agent.run([&] { return handle_signals(signals, holder.get()); });
    server.stop();
    // After the server: no change comes any more. A lost audit event fails the run as a lost
    // network event does (exit status 3).
    if (audit != nullptr && audit->close() > 0 && status == 0) status = kExitAuditLost;
    return status;
}

int run_agent(AgentOptions& options, const CLI::App& command) {
    // Every file the agent creates, the store and the -wal and -shm files that SQLite makes
    // later included (when the store's directory was read-only at the start, say), is then
    // readable by its group at most, never by every user.
    umask(027);
    try {
        if (!options.policy_path.empty()) reject_policy_options(command);
        complete_config(options);
    } catch (const std::invalid_argument& error) {
        spdlog::error("{}", error.what());
        return kExitUsage;
    }
    // Without CAP_NET_RAW no packet socket opens; retrying would never help.
    if (!daemon::has_effective_capability(CAP_NET_RAW)) {
        spdlog::error("the agent needs the CAP_NET_RAW capability to capture, which uid {} "
                      "lacks; run it as root or through the protowatch systemd unit",
                      geteuid());
        return kExitUsage;
    }
    // Before any thread starts, so that every thread inherits the blocked signals.
    daemon::SignalWatcher signals;
    // A closed stdout (`--json -`) becomes a write error the JSON sink reports.
    ::signal(SIGPIPE, SIG_IGN);
    try {
        return serve(options, signals);
    } catch (const policy::PolicyError& error) {
        spdlog::error("{}", error.what());
        return 1;
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
                     "the 'any' device), repeatable; a missing one is retried every 2 s")
        ->delimiter(',')
        ->allow_extra_args(false);
    command->add_option("--filter", config.capture.filter,
                        "BPF filter expression (tcpdump syntax) for every interface");
    command->add_option("--buffer-size", options->buffer_size,
                        "Size of each kernel capture ring, one per interface and capture thread, "
                        "from 1MiB to 2147483647 bytes, with a suffix (KiB, MiB)")
        ->capture_default_str();
    command
        ->add_option("--max-memory", options->max_memory,
                     "Bytes that flows, IP fragments and TCP reassembly buffers of every "
                     "capture thread may hold together; beyond it idle flows end first (reason "
                     "evicted), then held fragments and out-of-order data are dropped (KiB, MiB, "
                     "GiB; 0: no bound)")
        ->capture_default_str();
    command->add_flag("!--no-immediate", config.capture.immediate,
                      "Let the kernel hold packets for up to 100 ms instead of 1 ms (less CPU, "
                      "later attribution)");
    command->add_option("--stats-interval", config.settings.statistics_interval_s,
                        "Seconds between cumulative statistics events of long connections "
                        "(0: only at the end)")
        ->capture_default_str()
        ->check(seconds_validator(true));
    command
        ->add_option("--local-net", options->local_networks,
                     "Networks to treat as local besides the machine's own addresses, as CIDRs "
                     "separated by commas; repeatable")
        ->delimiter(',')
        ->allow_extra_args(false);
    command->add_option("--json", config.json_path,
                        "Also write events as JSON Lines to this file ('-' for stdout)");
    command->add_option("--policy", options->policy_path,
                        "Policy file (TOML, docs/policy.md) that sets the capture, store and "
                        "recording; excludes the options it replaces");
    command->add_option("--control-socket", options->socket_path,
                        fmt::format("Unix socket serving status, netstat and the policy commands "
                                    "(default: ${} or {})",
                                    control::kSocketPathVariable, control::kDefaultSocketPath));
    command->add_flag("--keep-privileges", options->keep_privileges,
                      "Keep every capability instead of only those capture and attribution "
                      "need");
    command->add_option("--device", config.settings.device, "Device name written into every event");
    command
        ->add_option("--threads", config.threads,
                     "Capture threads, each with its own pipeline; the kernel spreads each "
                     "interface's packets over them by address pair (PACKET_FANOUT)")
        ->capture_default_str()
        ->transform(range_validator(1, 64));
    command->add_flag("--no-attribution", options->no_attribution,
                      "Do not look up the process of each connection");
    command
        ->add_option("--attribution-poll-ms", options->attribution_poll_ms,
                     "Milliseconds between listings of every socket, which keep sockets that "
                     "close quickly attributable (0: list only on a miss)")
        ->capture_default_str()
        ->transform(range_validator(0, 60'000));
    store::add_store_options(*command, config.store);
    command->callback([options, command, &exit_code] {
        try {
            exit_code = run_agent(*options, *command);
        } catch (const std::exception& error) {
            spdlog::error("{}", error.what());
            exit_code = 1;
        }
    });
}

}  // namespace pw::cli
