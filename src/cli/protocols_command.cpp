// `protowatch protocols`: lists the protocol table.

#include <fmt/core.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "detect/protocols.h"

namespace pw::cli {

void register_protocols(CLI::App& app, int& exit_code) {
    auto format = std::make_shared<std::string>("table");
    CLI::App* command =
        app.add_subcommand("protocols", "List the protocols and content types protowatch "
                                        "identifies, with their numeric ids");
    command->add_option("--format", *format, "Output format: table or jsonl")
        ->check(CLI::IsMember({"table", "jsonl"}))
        ->capture_default_str();
    command->callback([format, &exit_code] {
        if (*format == "jsonl") {
            for (const ProtocolInfo& info : protocol_table()) {
                nlohmann::json row = {{"id", static_cast<int>(info.id)},
                                      {"name", info.name},
                                      {"description", info.description}};
                fmt::print("{}\n", row.dump());
            }
        } else {
            fmt::print("{:>5}  {:<26}  {}\n", "ID", "NAME", "IDENTIFIES");
            for (const ProtocolInfo& info : protocol_table()) {
                fmt::print("{:>5}  {:<26}  {}\n", static_cast<int>(info.id), info.name,
                           info.description);
            }
        }
        exit_code = 0;
    });
}

}  // namespace pw::cli
