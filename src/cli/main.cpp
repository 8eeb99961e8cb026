#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "common/ascii.h"

int main(int argc, char** argv) {
    // SQLite's count of its memory takes a global mutex per allocation, and nothing reads it.
    // The setting must come before SQLite's first use.
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    // Logs go to stderr so that events on stdout stay machine-readable.
    auto logger = spdlog::stderr_color_mt("protowatch");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

    CLI::App app{"protowatch: protocol visibility for every network connection of a machine"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "protowatch 0.1.0");
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "Log level: trace, debug, info, warn, error, off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    app.parse_complete_callback(
        [&] { spdlog::set_level(spdlog::level::from_str(log_level)); });

    int exit_code = 0;
    pw::cli::register_analyze(app, exit_code);
    pw::cli::register_protocols(app, exit_code);
    pw::cli::register_dump(app, exit_code);
    pw::cli::register_search(app, exit_code);
    pw::cli::register_policy(app, exit_code);
    pw::cli::register_agent(app, exit_code);
    pw::cli::register_status(app, exit_code);
    pw::cli::register_netstat(app, exit_code);
    pw::cli::register_report(app, exit_code);
    pw::cli::register_fleet(app, exit_code);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        // --help and --version exit 0; every usage error exits 2, as store.md and the
        // README document, instead of CLI11's own codes (104 to 114).
        if (error.get_exit_code() == 0) return app.exit(error);
        // The message may quote an argument, such as a file name with control characters.
        std::cerr << pw::terminal_safe(error.what()) << "\nRun with --help for more information.\n";
        return 2;
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        return 1;
    }
    return exit_code;
}
