#pragma once

#include <CLI/CLI.hpp>

namespace pw::cli {

// Each subcommand lives in its own file and registers itself on the application; the
// callback it sets runs the command and stores its exit status in `exit_code`.
void register_analyze(CLI::App& app, int& exit_code);
void register_protocols(CLI::App& app, int& exit_code);
void register_dump(CLI::App& app, int& exit_code);
void register_search(CLI::App& app, int& exit_code);
void register_fleet(CLI::App& app, int& exit_code);

}  // namespace pw::cli
