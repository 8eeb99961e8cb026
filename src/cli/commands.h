#pragma once

#include <CLI/CLI.hpp>

#include "common/range_option.h"

namespace pw::cli {

// Each subcommand lives in its own file and registers itself on the application; the
// callback it sets runs the command and stores its exit status in `exit_code`.
void register_analyze(CLI::App& app, int& exit_code);
void register_protocols(CLI::App& app, int& exit_code);
void register_dump(CLI::App& app, int& exit_code);
void register_search(CLI::App& app, int& exit_code);
void register_policy(CLI::App& app, int& exit_code);
void register_agent(CLI::App& app, int& exit_code);
void register_status(CLI::App& app, int& exit_code);
void register_netstat(CLI::App& app, int& exit_code);
void register_report(CLI::App& app, int& exit_code);
void register_fleet(CLI::App& app, int& exit_code);

// Accepts a finite number of seconds above zero, or at zero with `allow_zero`.
CLI::Validator seconds_validator(bool allow_zero);

}  // namespace pw::cli
