// `protowatch analyze FILE...`: reads capture files through the pipeline and writes one
// event stream per connection.

#include <fmt/core.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "capture/file_reader.h"
#include "cli/analyze_report.h"
#include "cli/commands.h"
#include "cli/output_paths.h"
#include "cli/progress.h"
#include "cli/publish_options.h"
#include "cli/stop_signals.h"
#include "cli/summary.h"
#include "events/json_sink.h"
#include "pipeline/pipeline.h"
#include "pipeline/sharded_pipeline.h"
#include "policy/policy_values.h"
#include "query/literals.h"
#include "store/store_options.h"

namespace pw::cli {
namespace {

// Exit status when an input file was damaged, truncated or of an unsupported link type:
// the events of what could be read were still written.
constexpr int kExitDamagedInput = 2;
// Exit status when events could not be written to --json (a full disk) or to the store.
constexpr int kExitOutputFailed = 3;
// Exit status after SIGINT or SIGTERM stopped the reading early, as shells report SIGINT.
constexpr int kExitStopped = 130;
// Exit status after the reader of the --json pipe went away (`| head`) and the reading
// stopped there: what shells report for a process that SIGPIPE ended, as `tcpdump | head`
// would give.
constexpr int kExitOutputClosed = 141;

struct AnalyzeOptions {
    std::vector<std::string> files;
    std::string json_path;
    std::string report_path;
    std::vector<std::string> local_networks;
    std::string filter;
    std::string max_memory = "0";
    bool progress = true;
    bool quiet = false;
    unsigned threads = 1;
    pipeline::Settings settings;
    store::StoreOptions store;
    PublishOptions publish;
};

// Rejects an event output path that is one of the inputs, which opening it for writing
// would destroy.
void check_output_is_not_input(const std::string& option, const std::string& path,
                               const AnalyzeOptions& options) {
    if (path.empty() || path == "-") return;
    std::error_code error;
    for (const std::string& input : options.files) {
        if (std::filesystem::equivalent(path, input, error)) {
            throw std::invalid_argument(option + " '" + path +
                                        "' is also an input capture; choose another path");
        }
    }
}

// Rejects a --json or --report path that names the event store or one of SQLite's files
// beside it, which writing it would destroy: the write-ahead log contains commits not yet
// in the store. Rejects the same path for both outputs too.
void check_outputs_apart(const AnalyzeOptions& options) {
    const std::pair<const char*, const std::string*> outputs[] = {
        {"--json", &options.json_path}, {"--report", &options.report_path}};
    std::string store =
        options.store.path.empty() ? store::default_store_path() : options.store.path;
    for (const auto& [option, path] : outputs) {
        if (path->empty() || *path == "-" || options.store.disabled) continue;
        check_output_is_not_store(option, *path, store);
    }
    const std::string& json = options.json_path;
    if (!json.empty() && json != "-" && !options.report_path.empty() &&
        same_file(json, options.report_path)) {
        throw std::invalid_argument("--json '" + json + "' and --report '" + options.report_path +
                                    "' name the same file; give each its own path");
    }
}

int run_analyze(AnalyzeOptions& options) {
    check_output_is_not_input("--json", options.json_path, options);
    check_output_is_not_input("--report", options.report_path, options);
    check_outputs_apart(options);
    install_stop_handlers();
    for (const std::string& text : options.local_networks) {
        options.settings.local_networks.push_back(pipeline::Cidr::parse(text));
    }
    options.settings.max_memory_bytes = query::parse_size(options.max_memory).value_or(0);

    // Sinks, in the order events reach them. An output that cannot be written exits 3, as a
    // write that fails later does.
    std::unique_ptr<AnalysisReport> report;
    std::vector<std::unique_ptr<events::EventSink>> sinks;
    events::JsonLinesSink* json = nullptr;
    try {
        if (!options.report_path.empty()) {
            report = std::make_unique<AnalysisReport>(options.report_path, options.store);
        }
        if (!options.json_path.empty()) {
            auto sink = std::make_unique<events::JsonLinesSink>(options.json_path);
            json = sink.get();
            // Input from a pipe may be a live capture (tcpdump -w -), whose reader expects
            // each event when it is final rather than a buffer's worth later.
            const bool live_input = std::any_of(
                options.files.begin(), options.files.end(), [](const std::string& path) {
                    struct stat info {};
                    return path == "-" ||
                           (stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode));
                });
            if (live_input) json->write_each_line();
            sinks.push_back(std::move(sink));
        }
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        return kExitOutputFailed;
    }
    store::StoreSink* store_sink = nullptr;
    if (auto store = store::open_store_sink(options.store)) {
        store_sink = store.get();
        sinks.push_back(std::move(store));
    }
    // The report reads its events back from the store. A store that failed to open is left
    // alone: it may be another program's file, which reading could change.
    const bool store_open = store_sink != nullptr && store_sink->is_open();
    if (report && store_open) report->mark_start();

    std::vector<events::EventSink*> sink_pointers;
    for (auto& sink : sinks) sink_pointers.push_back(sink.get());
    capture::FileReader reader(options.filter);
    pipeline::ShardedPipeline pipeline(options.settings, sink_pointers, options.threads);
    reader.set_stop_flag(&stop_requested);
    // Once the --json reader is gone, more input would only delay the exit. The store
    // still gets the events of every frame read until then.
    if (json != nullptr) reader.set_stop_request(json->closed_flag());
    ProgressBar bar(options.progress);

    int status = 0;
    uint64_t unreadable = 0;
    for (const std::string& path : options.files) {
        if (stop_requested || (json != nullptr && json->closed())) break;
        spdlog::debug("reading {}", path);
        capture::ReadResult result = reader.read(
            path, &pipeline::Pipeline::supports_link_type,
            [&](const capture::Frame& frame) {
                pipeline.process_frame(frame.linktype, frame.data, frame.wire_length,
                                       frame.time_us);
            },
            [&](uint64_t done, uint64_t total) {
                bar.update(path, done, total);
                if (&path == &options.files.back() && done <= total) {
                    pipeline.input_left(total - done, total);
                }
            });
        bar.clear();
        if (!result.complete) {
            spdlog::error("{}", result.error);
            status = kExitDamagedInput;
            if (!result.opened) ++unreadable;
        }
    }
    if (reader.unsupported_frames() > 0) status = kExitDamagedInput;
    pipeline.finish();

    std::optional<store::StoreStats> store_stats;
    if (store_sink != nullptr) store_stats = store_sink->stats();
    const bool output_closed = json != nullptr && json->closed();
    if (!options.quiet) {
        print_summary(pipeline.summary(), reader.unsupported_frames(),
                      store_stats ? &*store_stats : nullptr, output_closed);
    }
    if (report && !store_open) {
        spdlog::error("the report {} was not written, because the event store could not be "
                      "opened (see above)",
                      options.report_path);
        return kExitOutputFailed;
    }
    if (report && !report->write(pipeline.summary(), reader.unsupported_frames())) {
        return kExitOutputFailed;
    }
    if (store_stats && store_stats->lost > 0) return kExitOutputFailed;
    if (output_closed) {
        if (options.publish.enabled) {
            spdlog::warn(
                "events not published, because the reader of the --json output went "
                "away; they stay in the store for the next publish");
        }
        return kExitOutputClosed;
    }
    if (json != nullptr && !json->ok()) return kExitOutputFailed;
    if (options.publish.enabled && !stop_requested) {
        int published =
            publish_recorded(options.publish, store_sink, options.settings.device, &stop_requested);
        if (published != 0) return published;
    }
    if (stop_requested) {
        spdlog::warn("stopped by a signal; the events of every frame read so far were written");
        return kExitStopped;
    }
    if (unreadable == options.files.size()) return 1;
    return status;
}

}  // namespace

// Accepts finite numbers above zero, or at zero with `allow_zero`, up to 100 years. It
// rejects NaN and infinity, because CLI11's range checks let NaN through and print a
// 300-digit bound.
CLI::Validator seconds_validator(bool allow_zero) {
    return CLI::Validator(
        [allow_zero](std::string& text) -> std::string {
            double value = 0;
            try {
                size_t used = 0;
                value = std::stod(text, &used);
                if (used != text.size()) throw std::invalid_argument(text);
            } catch (const std::exception&) {
                return "'" + text + "' is not a number of seconds";
            }
            if (!std::isfinite(value) || value < 0 || (!allow_zero && value == 0)) {
                return "'" + text + "' must be a finite number of seconds " +
                       (allow_zero ? "of at least 0" : "greater than 0");
            }
            // Times are kept in microseconds in 64 bits, which overflow past about 292,000
            // years. A century outlasts any capture or agent, so it serves as "never".
            constexpr double kMaxSeconds = 100.0 * 365 * 24 * 3600;
            if (value > kMaxSeconds) {
                return "'" + text + "' is longer than 100 years (" +
                       std::to_string(static_cast<int64_t>(kMaxSeconds)) +
                       " s); give at most that";
            }
            // Times are kept in milliseconds; a shorter one would silently become 0.
            if (value > 0 && value < 0.001) {
                return "'" + text + "' is shorter than a millisecond; give at least 0.001 s" +
                       (allow_zero ? " or 0" : "");
            }
            return {};
        },
        allow_zero ? "SECONDS>=0" : "SECONDS>0");
}

void register_analyze(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<AnalyzeOptions>();
    pipeline::Settings& s = options->settings;
    CLI::App* command = app.add_subcommand(
        "analyze", "Analyze pcap or pcapng capture files and write network events");
    command
        ->add_option(
            "files", options->files,
            "Capture files (pcap or pcapng, gzip-compressed or not), read in order ('-' for "
            "standard input)")
        ->required()
        ->check(CLI::Validator(
            [](std::string& path) { return path == "-" ? std::string() : CLI::ExistingFile(path); },
            "FILE", "ExistingFile"));
    command->add_option("--json", options->json_path,
                        "Write events as JSON Lines to this file ('-' for stdout). When the "
                        "reader of a pipe goes away, reading stops and the exit status is 141");
    command
        ->add_option("--local-net", options->local_networks,
                     "Local networks, as CIDRs separated by commas: connections from them are "
                     "outbound, to them inbound (default: direction unknown); repeatable")
        ->delimiter(',')
        // One value per occurrence, so that the capture files after it stay files.
        ->allow_extra_args(false);
    command->add_option("--report", options->report_path,
                        "Write an HTML report of this run's connections to this file");
    command->add_option("--filter", options->filter,
                        "BPF filter expression (tcpdump syntax) applied to every file");
    command
        ->add_option("--tcp-timeout", s.tcp_idle_timeout_s,
                     "Seconds without packets after which a TCP connection ends")
        ->capture_default_str()
        ->check(seconds_validator(false));
    command
        ->add_option("--udp-timeout", s.udp_idle_timeout_s,
                     "Seconds without packets after which a UDP flow ends")
        ->capture_default_str()
        ->check(seconds_validator(false));
    command
        ->add_option("--other-timeout", s.other_idle_timeout_s,
                     "Seconds without packets after which a flow of ICMP, ICMPv6 or an IP "
                     "protocol other than TCP, UDP and IGMP ends")
        ->capture_default_str()
        ->check(seconds_validator(false));
    command
        ->add_option("--igmp-timeout", s.igmp_idle_timeout_s,
                     "Seconds without packets after which an IGMP flow ends (a multicast "
                     "membership lasts 260 s without reports)")
        ->capture_default_str()
        ->check(seconds_validator(false));
    command
        ->add_option("--tcp-linger", s.tcp_closed_linger_s,
                     "Seconds a closed TCP connection (FIN both ways or RST) waits for late "
                     "packets before it ends")
        ->capture_default_str()
        ->check(seconds_validator(true));
    command
        ->add_option("--stats-interval", s.statistics_interval_s,
                     "Seconds between cumulative statistics events of long connections "
                     "(0: only at the end)")
        ->capture_default_str()
        ->check(seconds_validator(true));
    command
        ->add_option("--max-flows", s.max_flows,
                     "Flows tracked at once; when full, the flow idle the longest ends early "
                     "(reason evicted)")
        ->capture_default_str()
        ->transform(count_validator());
    command
        ->add_option("--threads", options->threads,
                     "Threads that analyze, the reading thread included; flows are shared "
                     "out among them by their address pair. "
                     "With more than one, events of different connections interleave")
        ->capture_default_str()
        ->transform(range_validator(1, 256));
    command
        ->add_option("--max-memory", options->max_memory,
                     "Bytes that flows, IP fragments and TCP reassembly buffers may hold "
                     "together; beyond it idle flows end first (reason evicted), then held "
                     "fragments and out-of-order data are dropped (KB/MB/GB are powers of "
                     "1000, KiB/MiB/GiB of 1024; 0: no bound)")
        ->check(store::size_validator())
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                // As the agent and the policy: below 1MiB no flow fits.
                std::optional<uint64_t> size = query::parse_size(text);
                if (!size || *size == 0 || *size >= policy::kMinFlowMemory) return {};
                return "'" + text +
                       "' leaves no room for a flow; use 0 for no bound or at least 1MiB, "
                       "such as 256MiB";
            },
            "SIZE"))
        ->capture_default_str();
    command->add_option("--device", s.device, "Device name written into every event");
    command->add_flag("!--no-progress", options->progress,
                      "Do not draw a progress bar (drawn only when stderr is a terminal)");
    command->add_flag("-q,--quiet", options->quiet,
                      "Do not print the summary, nor log below warnings unless --log-level asks");
    store::add_store_options(*command, options->store);
    add_publish_options(*command, options->publish);
    command->callback([command, options, &exit_code] {
        if (options->quiet && command->get_parent()->count("--log-level") == 0) {
            spdlog::set_level(spdlog::level::warn);
        }
        try {
            exit_code = run_analyze(*options);
        } catch (const std::exception& error) {
            spdlog::error("{}", error.what());
            exit_code = 1;
        }
    });
}

}  // namespace pw::cli
