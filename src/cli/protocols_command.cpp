// `protowatch protocols`: lists the protocol table, and which entries the policy records.

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "detect/protocols.h"
#include "policy/policy.h"

namespace pw::cli {
namespace {

// The agent's policy file where the install puts it.
constexpr const char* kInstalledPolicy = "/etc/protowatch/policy.toml";

// The policy the listing reports on: the file given, else the installed one when it
// exists, else the defaults that apply without a policy file. `source` says which.
policy::Policy policy_for_listing(const std::string& path, std::string& source) {
    if (!path.empty()) {
        source = path;
        return policy::load_policy_file(path);
    }
    std::error_code error;
    if (std::filesystem::exists(kInstalledPolicy, error)) {
        source = kInstalledPolicy;
        return policy::load_policy_file(kInstalledPolicy);
    }
    source = "the defaults (no policy file)";
    return policy::Policy{};
}

}  // namespace

void register_protocols(CLI::App& app, int& exit_code) {
    auto format = std::make_shared<std::string>("table");
    CLI::App* command =
        app.add_subcommand("protocols", "List the protocols and content types protowatch "
                                        "identifies, with their numeric ids");
    command->add_option("--format", *format, "Output format: table or jsonl")
        ->check(CLI::IsMember({"table", "jsonl"}))
        ->capture_default_str();
    auto policy_path = std::make_shared<std::string>();
    command->add_option("--policy", *policy_path,
                        std::string("Policy file whose protocol list the RECORDED column shows "
                                    "(default: ") +
                            kInstalledPolicy + " when it exists, else the built-in defaults)");
    command->callback([format, policy_path, &exit_code] {
        std::string source;
        policy::Policy policy = policy_for_listing(*policy_path, source);
        auto recorded = [&](ProtocolId id) {
            return policy.recording_enabled &&
                   std::find(policy.protocols.begin(), policy.protocols.end(), id) !=
                       policy.protocols.end();
        };
        if (*format == "jsonl") {
            for (const ProtocolInfo& info : protocol_table()) {
                nlohmann::json row = {{"id", static_cast<int>(info.id)},
                                      {"name", info.name},
                                      {"description", info.description},
                                      {"recorded", recorded(info.id)}};
                fmt::print("{}\n", row.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            }
        } else {
            fmt::print("# RECORDED: whether the policy records it; policy: {}{}\n", source,
                       policy.recording_enabled ? "" : " (recording is disabled)");
            fmt::print("{:>5}  {:<26}  {:<8}  {}\n", "ID", "NAME", "RECORDED", "IDENTIFIES");
            for (const ProtocolInfo& info : protocol_table()) {
                fmt::print("{:>5}  {:<26}  {:<8}  {}\n", static_cast<int>(info.id), info.name,
                           recorded(info.id) ? "yes" : "no", info.description);
            }
        }
        exit_code = 0;
    });
}

}  // namespace pw::cli
