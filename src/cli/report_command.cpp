// `protowatch report -o FILE [QUERY]`: writes an HTML report of the stored connections.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/output_paths.h"
#include "cli/query_helpers.h"
#include "common/ascii.h"
#include "query/compiler.h"
#include "query/literals.h"
#include "report/page.h"
#include "report/report.h"
#include "store/schema.h"
#include "store/store_options.h"

namespace pw::cli {
namespace {

constexpr int kExitUsage = 2;
constexpr size_t kMaxTableRows = 100'000;

struct ReportOptions {
    std::string output_path;
    std::string store_path;
    std::string since;
    std::string until;
    std::vector<std::string> query_words;
    size_t table_rows = report::Limits{}.table_rows;
};

// Resolves a --since or --until value to ISO 8601, so that the search command printed in
// the page means the same time later, also for relative times such as -1h.
std::string absolute_time(const std::string& option, const std::string& text, int64_t now) {
    if (text.empty()) return {};
    auto time = query::parse_time(text, now);
    if (!time) {
        throw std::invalid_argument(
            fmt::format("{}: invalid time '{}'; expected {}", option, text, query::kTimeForms));
    }
    warn_if_seconds(option, text, *time);
    return query::format_time(*time);
}

// Returns whether `expression` compares `field` (lower-case).
bool mentions_field(const query::Expression& expression, const std::string& field) {
    if (expression.kind == query::Expression::Kind::kComparison) {
        // Field names are case-insensitive.
        const std::string& name = expression.comparison.field;
        return name.size() == field.size() && contains_ignoring_case(name, field);
    }
    return std::any_of(expression.operands.begin(), expression.operands.end(),
                       [&](const query::ExpressionPtr& operand) {
                           return operand != nullptr && mentions_field(*operand, field);
                       });
}

int run_report(const ReportOptions& options) {
    std::string query_text;
    for (const std::string& word : options.query_words) {
        if (!query_text.empty()) query_text += ' ';
        query_text += word;
    }
    int64_t now = query::now_ms();
    std::string since = absolute_time("--since", options.since, now);
    std::string until = absolute_time("--until", options.until, now);
    if (!since.empty() && !until.empty() &&
        *query::parse_time(since, now) > *query::parse_time(until, now)) {
        throw std::invalid_argument(fmt::format(
            "--since '{}' ({}) is after --until '{}' ({}); swap them or widen the range",
            options.since, since, options.until, until));
    }

    query::ExpressionPtr expression;
    try {
        if (!query_text.empty()) expression = query::parse(query_text);
    } catch (const query::QueryError& error) {
        print_query_error(error, query_text);
        return kExitUsage;
    }
    expression = both(std::move(expression),
                      both(time_bound("--since", since, query::Operator::kGreaterEqual),
                           time_bound("--until", until, query::Operator::kLessEqual)));
    report::ReportJob job;
    try {
        if (expression) job.filter = query::compile(*expression, now);
    } catch (const query::QueryError& error) {
        print_query_error(error, query_text);
        return kExitUsage;
    }
    for (const std::string& warning : job.filter.warnings) spdlog::warn("{}", warning);
    if (expression && mentions_field(*expression, "reason")) {
        spdlog::warn(
            "the query compares 'reason', which only disconnect events carry, while "
            "the report selects connections by their statistics events; use `protowatch "
            "search` for disconnect events");
    }

    report::check_output_path(options.output_path, "-o");
    job.store_path = options.store_path.empty() ? store::default_store_path() : options.store_path;
    check_output_is_not_store("-o", options.output_path, job.store_path);
    job.output_path = options.output_path;
    job.query_text = query_text;
    job.search_command = report::search_command(job.store_path, query_text, since, until);
    job.limits.table_rows = options.table_rows;
    try {
        report::ReportResult result = report::write_report(job);
        spdlog::info("wrote {} ({} connections, {} bytes)", job.output_path, result.connections,
                     result.page_bytes);
    } catch (const store::StoreError& error) {
        spdlog::error("{}", error.what());
        return 1;
    }
    return 0;
}

}  // namespace

void register_report(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<ReportOptions>();
    CLI::App* command = app.add_subcommand(
        "report",
        "Write a self-contained HTML report of the stored connections: protocols over time, "
        "top protocols, processes and endpoints, content types, anomalies, a connection table");
    command->add_option("-o,--output", options->output_path, "The HTML file to write")->required();
    command->add_option("query", options->query_words,
                        "Only connections whose statistics events match this query (the "
                        "search language of docs/store.md); quote it for the shell");
    store::add_store_path_option(*command, options->store_path);
    command->add_option("--since", options->since,
                        "Only statistics events at or after this time: ISO 8601 "
                        "(2024-05-01T10:00:00Z, UTC without an offset) or relative (-1h, -7d)");
    command->add_option("--until", options->until,
                        "Only statistics events at or before this time (as --since)");
    command
        ->add_option("--rows", options->table_rows,
                     "Connections written into the page's table, the earliest first")
        ->capture_default_str()
        ->transform(range_validator(1, static_cast<int64_t>(kMaxTableRows)));
    command->callback([options, &exit_code] {
        try {
            exit_code = run_report(*options);
        } catch (const std::invalid_argument& error) {
            spdlog::error("{}", error.what());
            exit_code = kExitUsage;
        } catch (const std::exception& error) {
            spdlog::error("{}", error.what());
            exit_code = 1;
        }
    });
}

}  // namespace pw::cli
