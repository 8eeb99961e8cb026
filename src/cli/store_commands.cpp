// `protowatch dump` and `protowatch search`: read events back from the event store.

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/audit_listing.h"
#include "cli/commands.h"
#include "cli/query_helpers.h"
#include "query/compiler.h"
#include "query/literals.h"
#include "query/parser.h"
#include "store/event_output.h"
#include "store/schema.h"
#include "store/store_options.h"
#include "store/store_reader.h"

namespace pw::cli {
namespace {

// Exit status for an invalid query or option value, as for other usage errors.
constexpr int kExitInvalidQuery = 2;
constexpr int kExitOutputFailed = 3;

struct ReadOptions {
    std::string store_path;
    std::string format;
    std::string since;
    std::string until;
    uint64_t limit = 0;
};

struct DumpOptions {
    ReadOptions read;
    bool audit = false;
    std::optional<int64_t> pid;
    std::string process;
    std::string connection;
};

struct SearchOptions {
    ReadOptions read;
    bool audit = false;
    std::vector<std::string> query_words;
    bool correlate = false;
};

query::ExpressionPtr time_bounds(const ReadOptions& options) {
    if (!options.since.empty() && !options.until.empty()) {
        int64_t now = query::now_ms();
        auto since = query::parse_time(options.since, now);
        auto until = query::parse_time(options.until, now);
        if (since && until && *since > *until) {
            throw std::invalid_argument(fmt::format(
                "--since '{}' is after --until '{}'; give the earlier time to --since",
                options.since, options.until));
        }
    }
    return both(time_bound("--since", options.since, query::Operator::kGreaterEqual),
                time_bound("--until", options.until, query::Operator::kLessEqual));
}

store::OutputFormat output_format(const ReadOptions& options) {
    if (options.format.empty()) {
        return isatty(STDOUT_FILENO) ? store::OutputFormat::kTable : store::OutputFormat::kJsonl;
    }
    return *store::parse_output_format(options.format);
}

void add_read_options(CLI::App& command, ReadOptions& options) {
    store::add_store_path_option(command, options.store_path);
    command
        .add_option("--format", options.format,
                    "Output format: jsonl, table or csv (default: table on a terminal, else jsonl)")
        ->check(CLI::IsMember({"jsonl", "table", "csv"}));
    command.add_option("--since", options.since,
                       "Only events at or after this time: ISO 8601 (2024-05-01T10:00:00Z, UTC "
                       "without an offset) or relative (-1h, -30m, -7d)");
    command.add_option("--until", options.until, "Only events at or before this time (as --since)");
    command.add_option("--limit", options.limit, "Print at most this many records (0: all)")
        ->transform(count_validator(true));
}

store::StoreReader open_reader(const ReadOptions& options) {
    return store::StoreReader::open(options.store_path.empty() ? store::default_store_path()
                                                               : options.store_path);
}

void print_filter_warnings(const query::SqlFilter& filter) {
    for (const std::string& warning : filter.warnings) spdlog::warn("{}", warning);
}

// Prints the audit events of policy changes that match the time bounds and `words`.
int run_audit(const ReadOptions& options, const std::vector<std::string>& words) {
    if (options.format == "csv") {
        throw std::invalid_argument("--format csv is not available with --audit; use jsonl or "
                                    "table");
    }
    store::AuditQuery audit_query;
    int64_t now = query::now_ms();
    time_bounds(options);  // checks --since and --until
    if (!options.since.empty()) audit_query.since_ms = *query::parse_time(options.since, now);
    if (!options.until.empty()) audit_query.until_ms = *query::parse_time(options.until, now);
    audit_query.limit = options.limit;
    add_audit_filters(words, audit_query);
    store::StoreReader reader = open_reader(options);
    print_audit_events(store::read_audit_events(reader.database(), audit_query),
                       output_format(options) == store::OutputFormat::kTable, std::cout);
    return 0;
}

int run_dump(const DumpOptions& options) {
    if (options.audit) return run_audit(options.read, {});
    query::ExpressionPtr filter_expression = time_bounds(options.read);
    if (options.pid) {
        filter_expression =
            both(std::move(filter_expression),
                 comparison("pid", query::Operator::kEqual, std::to_string(*options.pid)));
    }
    if (!options.process.empty()) {
        filter_expression = both(std::move(filter_expression),
                                 comparison("process", query::Operator::kEqual, options.process));
    }
    if (!options.connection.empty()) {
        filter_expression =
            both(std::move(filter_expression),
                 comparison("connection_uid", query::Operator::kEqual, options.connection));
    }
    query::SqlFilter filter;
    if (filter_expression) filter = query::compile(*filter_expression, query::now_ms());

    store::StoreReader reader = open_reader(options.read);
    auto writer = store::make_record_writer(output_format(options.read), std::cout, false);
    store::EventCursor cursor = reader.select(filter, options.read.limit);
    store::StoredEvent event;
    while (cursor.next(event)) writer->write(event);
    writer->finish();
    return 0;
}

int run_search(const SearchOptions& options) {
    if (options.audit) return run_audit(options.read, options.query_words);
    std::string query_text;
    for (const std::string& word : options.query_words) {
        if (!query_text.empty()) query_text += ' ';
        query_text += word;
    }
    query::ExpressionPtr expression;
    try {
        expression = query::parse(query_text);
    } catch (const query::QueryError& error) {
        print_query_error(error, query_text);
        return kExitInvalidQuery;
    }
    if (options.correlate) {
        expression =
            both(std::move(expression), comparison("id", query::Operator::kEqual, "statistics"));
    }
    expression = both(std::move(expression), time_bounds(options.read));
    query::SqlFilter filter;
    try {
        filter = query::compile(*expression, query::now_ms());
    } catch (const query::QueryError& error) {
        print_query_error(error, query_text);
        return kExitInvalidQuery;
    }
    print_filter_warnings(filter);

    store::StoreReader reader = open_reader(options.read);
    auto writer =
        store::make_record_writer(output_format(options.read), std::cout, options.correlate);
    store::EventCursor cursor = reader.select(filter, options.read.limit);
    store::StoredEvent event;
    while (cursor.next(event)) {
        if (!options.correlate) {
            writer->write(event);
            continue;
        }
        store::SessionRecord session;
        session.connect =
            reader.find_session_event(event.event, event.sequence, events::Activity::kConnect);
        session.disconnect =
            reader.find_session_event(event.event, event.sequence, events::Activity::kDisconnect);
        session.statistics = std::move(event);
        writer->write(session);
    }
    writer->finish();
    return 0;
}

// Runs a read command, turning its errors into a message and an exit status.
template <class Run>
int run_reporting_errors(Run run) {
    try {
        int status = run();
        std::cout.flush();
        if (!std::cout) {
            // A full disk or a closed pipe: say so, rather than leave a short listing.
            spdlog::error("failed to write the output (is the disk full, or the reader gone?)");
            return kExitOutputFailed;
        }
        return status;
    } catch (const std::invalid_argument& error) {
        spdlog::error("{}", error.what());
        return kExitInvalidQuery;
    } catch (const query::QueryError& error) {
        spdlog::error("{}", error.what());
        return kExitInvalidQuery;
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        return 1;
    }
}

}  // namespace

void register_dump(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<DumpOptions>();
    CLI::App* command = app.add_subcommand("dump", "Print the events in the event store");
    add_read_options(*command, options->read);
    command->add_option("--pid", options->pid, "Only events of the process with this id")
        ->transform(count_validator());
    command
        ->add_option("--process", options->process,
                     "Only events of processes with this name (exact match)")
        ->check(CLI::Validator(
            [](const std::string& name) -> std::string {
                return name.empty() ? "an empty process name matches no event; give a name as "
                                      "`ps -o comm` prints it"
                                    : "";
            },
            "NAME"));
    auto* connection =
        command
            ->add_option("--connection", options->connection,
                         "Only events of the connection with this connection_uid")
            ->check(CLI::Validator(
                [](const std::string& uid) -> std::string {
                    return uid.empty() ? "an empty connection_uid matches no event; give one as "
                                         "events print it (C and 16 hex digits)"
                                       : "";
                },
                "UID"));
    command
        ->add_flag("--audit", options->audit,
                   "Print the audit events of policy changes instead of network events")
        ->excludes("--pid")
        ->excludes("--process")
        ->excludes(connection);
    command->callback([options, &exit_code] {
        exit_code = run_reporting_errors([&] { return run_dump(*options); });
    });
}

void register_search(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<SearchOptions>();
    CLI::App* command = app.add_subcommand(
        "search",
        "Print the stored events that match a query, such as "
        "'protocol = TLS and target_port = 443' (the language is in docs/store.md)");
    command->add_option("query", options->query_words, "The query; quote it for the shell")
        ->required();
    add_read_options(*command, options->read);
    command->add_flag("--correlate", options->correlate,
                      "For each matching statistics event, print its session: the statistics "
                      "with the connect and disconnect events of the same endpoints and span");
    command
        ->add_flag("--audit", options->audit,
                   "Search the audit events of policy changes; the query is user=NAME, "
                   "action=NAME and key=TABLE.KEY terms")
        ->excludes("--correlate");
    command->callback([options, &exit_code] {
        exit_code = run_reporting_errors([&] { return run_search(*options); });
    });
}

}  // namespace pw::cli
