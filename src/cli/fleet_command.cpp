// `protowatch fleet serve` and `protowatch fleet search`: the agent's side of fleet search
// (with the publisher, optionally) and the requester that merges the agents' replies.

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/nats_options.h"
#include "cli/query_helpers.h"
#include "fleet/earliest_events.h"
#include "fleet/fleet_search.h"
#include "fleet/publisher.h"
#include "fleet/search_responder.h"
#include "query/compiler.h"
#include "query/literals.h"
#include "store/event_output.h"
#include "store/store_options.h"

namespace pw::cli {

CLI::Validator seconds_validator(bool allow_zero);

namespace {

// Exit status of `fleet search` for an invalid query, as for other usage errors.
constexpr int kExitInvalidQuery = 2;
// Exit status of `fleet search` when an agent did not finish in time or replied with an error.
constexpr int kExitAgentsMissing = 4;

struct ServeOptions {
    std::string store_path;
    std::string device;
    bool publish = false;
    double heartbeat_s = 30;
    NatsOptions nats;
};

struct FleetSearchOptions {
    std::vector<std::string> query_words;
    double timeout_s = 5;
    std::string format;
    uint64_t limit = 0;
    uint64_t chunk_events = 500;
    uint64_t window = 8;
    NatsOptions nats;
};

std::string host_name() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) return "unknown";
    return host;
}

std::chrono::milliseconds to_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Blocks SIGINT and SIGTERM in every thread (nats.c's threads inherit the mask) and returns
// the set, so that the main thread can wait for them with sigwait.
sigset_t block_stop_signals() {
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    return signals;
}

int run_serve(ServeOptions& options) {
    fleet::NatsSettings settings = to_settings(options.nats);
    std::string store_path =
        options.store_path.empty() ? store::default_store_path() : options.store_path;
    std::string device = options.device.empty() ? host_name() : options.device;
    sigset_t signals = block_stop_signals();

    std::unique_ptr<fleet::Publisher> publisher;
    if (options.publish) {
        fleet::PublisherOptions publisher_options;
        publisher_options.store_path = store_path;
        publisher_options.device = device;
        publisher = std::make_unique<fleet::Publisher>(settings, publisher_options);
        publisher->start();
    }
    fleet::SearchResponderOptions responder_options;
    responder_options.store_path = store_path;
    responder_options.device = device;
    responder_options.heartbeat_interval = to_ms(options.heartbeat_s);
    fleet::SearchResponder responder(settings, responder_options);
    responder.start();

    int signal_number = 0;
    sigwait(&signals, &signal_number);
    spdlog::info("stopping on {}", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    responder.stop();
    if (publisher) publisher->stop();
    return 0;
}

int run_fleet_search(FleetSearchOptions& options) {
    fleet::NatsSettings settings = to_settings(options.nats);
    fleet::SearchRequest request;
    for (const std::string& word : options.query_words) {
        if (!request.query.empty()) request.query += ' ';
        request.query += word;
    }
    request.limit = options.limit;
    request.chunk_events = options.chunk_events;
    request.window = options.window;
    // Checked here first, so that an invalid query reaches no agent and its error shows the
    // column at fault. The agents check it again, since one may run another version.
    try {
        query::compile_query(request.query, query::now_ms());
    } catch (const query::QueryError& error) {
        print_query_error(error, request.query);
        return kExitInvalidQuery;
    }

    store::OutputFormat format = store::OutputFormat::kJsonl;
    if (!options.format.empty()) {
        format = *store::parse_output_format(options.format);
    } else if (isatty(STDOUT_FILENO)) {
        format = store::OutputFormat::kTable;
    }
    auto writer = store::make_record_writer(format, std::cout, false, true);

    // With --limit, each agent sends its `limit` earliest events, and the earliest of those
    // are printed once the search ends. Without it, events are printed as they arrive.
    std::optional<fleet::EarliestEvents> earliest;
    if (options.limit > 0) earliest.emplace(options.limit);
    fleet::NatsConnection connection(settings, fleet::ConnectMode::kFailFast,
                                     "protowatch fleet search");
    fleet::FleetSearchResult result = fleet::fleet_search(
        connection, settings, request, to_ms(options.timeout_s), [&](store::StoredEvent& event) {
            if (earliest) {
                earliest->add(std::move(event));
            } else {
                writer->write(event);
            }
        });
    if (earliest) {
        for (const store::StoredEvent& event : earliest->take()) writer->write(event);
    }
    writer->finish();

    // Every agent rejects an invalid query alike; report it once, as a usage error.
    bool invalid_query = false;
    std::vector<std::string> failed;
    for (const fleet::AgentAnswer& answer : result.agents) {
        for (const std::string& warning : answer.warnings) {
            spdlog::warn("{}: {}", answer.device, warning);
        }
        // A marked agent that sent nothing is reported as silent (below).
        if (answer.error.empty() && answer.shared_name && answer.accepted) {
            std::cerr << fmt::format(
                "agent {} failed: two agents announce themselves as device '{}', so these "
                "results may hold the events of only one of them; give each agent its own "
                "--device or device setting (the default, the host name, is the same on cloned "
                "machines)\n",
                answer.device, answer.device);
            failed.push_back(answer.device);
            continue;
        }
        if (answer.error.empty()) continue;
        if (answer.error.rfind("invalid query", 0) == 0) {
            if (!invalid_query) std::cerr << answer.error << '\n';
            invalid_query = true;
            continue;
        }
        std::cerr << "agent " << answer.device << " failed: " << answer.error << '\n';
        failed.push_back(answer.device);
    }
    if (invalid_query) return kExitInvalidQuery;
    // Agents that did not finish: those that sent nothing, and those that sent part of
    // their events.
    std::vector<std::string> silent;
    std::vector<std::string> unfinished;
    for (const fleet::AgentAnswer& answer : result.agents) {
        if (answer.done || !answer.error.empty() || (answer.shared_name && answer.accepted)) {
            continue;
        }
        if (answer.received == 0) {
            silent.push_back(answer.device);
        } else {
            unfinished.push_back(fmt::format("{} ({} events)", answer.device, answer.received));
        }
    }
    if (!silent.empty()) {
        std::cerr << fmt::format("agents that did not answer within {} s ({}): {}\n",
                                 options.timeout_s, silent.size(), fmt::join(silent, ", "));
    }
    if (!unfinished.empty()) {
        std::cerr << fmt::format(
            "agents that did not finish within {} s ({}): {}; a longer --timeout lets them "
            "finish, and a reader of the output must keep up, since the requester takes no "
            "more events while it cannot write\n",
            options.timeout_s, unfinished.size(), fmt::join(unfinished, ", "));
    }
    if (result.agents.empty()) {
        if (result.no_listener) {
            std::cerr << "no agent answered: none listens on the search subject; agents join "
                         "with a [nats] policy section (docs/fleet.md)\n";
        } else {
            std::cerr << fmt::format("no agent answered within {} s\n", options.timeout_s);
        }
        return kExitAgentsMissing;
    }
    return silent.empty() && unfinished.empty() && failed.empty() ? 0 : kExitAgentsMissing;
}

template <class Run>
void run_reporting_errors(int& exit_code, Run run) {
    try {
        exit_code = run();
    } catch (const std::invalid_argument& error) {
        spdlog::error("{}", error.what());
        exit_code = 2;
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        exit_code = 1;
    }
}

void register_serve(CLI::App& fleet, int& exit_code) {
    auto options = std::make_shared<ServeOptions>();
    CLI::App* command = fleet.add_subcommand(
        "serve", "Answer fleet searches from the event store until SIGINT or SIGTERM");
    store::add_store_path_option(*command, options->store_path);
    command->add_option("--device", options->device,
                        "The agent's name in search replies (default: the host name)");
    command->add_flag("--publish", options->publish,
                      "Also publish the store's events to JetStream as they are recorded");
    command
        ->add_option("--heartbeat-interval", options->heartbeat_s,
                     "Seconds between the agent's presence announcements")
        ->capture_default_str()
        ->check(seconds_validator(false));
    add_nats_options(*command, options->nats);
    command->callback([options, &exit_code] {
        run_reporting_errors(exit_code, [&] { return run_serve(*options); });
    });
}

void register_fleet_search(CLI::App& fleet, int& exit_code) {
    auto options = std::make_shared<FleetSearchOptions>();
    CLI::App* command = fleet.add_subcommand(
        "search",
        "Search the stores of every agent of the fleet with one query (the language "
        "of `protowatch search`)");
    command->add_option("query", options->query_words, "The query; quote it for the shell")
        ->required();
    command
        ->add_option("--timeout", options->timeout_s,
                     "Seconds to wait for the agents; those not done by then are listed")
        ->capture_default_str()
        ->check(seconds_validator(false));
    command
        ->add_option(
            "--format", options->format,
            "Output format: jsonl, table or csv (default: table on a terminal, else jsonl)")
        ->check(CLI::IsMember({"jsonl", "table", "csv"}));
    command
        ->add_option("--limit", options->limit,
                     "Print at most this many events in total: the earliest by time, when the "
                     "search ends (0: every event, as it arrives)")
        ->transform(count_validator(true));
    command->add_option("--chunk-events", options->chunk_events, "Events per reply message")
        ->capture_default_str()
        ->transform(count_validator());
    command
        ->add_option("--window", options->window,
                     "Reply messages an agent sends before it waits for an acknowledgment")
        ->capture_default_str()
        ->transform(count_validator());
    add_nats_options(*command, options->nats);
    command->callback([options, &exit_code] {
        run_reporting_errors(exit_code, [&] { return run_fleet_search(*options); });
    });
}

}  // namespace

void register_fleet(CLI::App& app, int& exit_code) {
    CLI::App* fleet = app.add_subcommand("fleet", "Search the fleet's agents over NATS");
    fleet->require_subcommand(1);
    register_serve(*fleet, exit_code);
    register_fleet_search(*fleet, exit_code);
}

}  // namespace pw::cli
