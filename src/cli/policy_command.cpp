// `protowatch policy`: shows and changes the running agent's policy over its control socket.

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "control/client.h"

namespace pw::cli {
namespace {

// Exit statuses: the agent rejected the change (an invalid policy, an untrusted file), or
// the caller lacks the role; a missing agent or a failed connection exits 1.
constexpr int kExitFailed = 1;
constexpr int kExitRejected = 3;
constexpr int kExitDenied = 4;

struct PolicyOptions {
    std::string socket_path = control::default_socket_path();
    std::string file;
    std::vector<std::string> protocols;
};

void print_changes(const nlohmann::json& result) {
    const nlohmann::json& changes = result.at("changes");
    if (changes.empty()) {
        std::cout << "no change: the running policy already has these values\n";
        return;
    }
    for (const nlohmann::json& change : changes) {
        std::cout << change.value("key", "") << ": " << change.value("old", "") << " -> "
                  << change.value("new", "") << '\n';
    }
}

// Calls `command` on the agent and prints its result with `print`.
int call_agent(const PolicyOptions& options, const std::string& command,
               const nlohmann::json& args, void (*print)(const nlohmann::json&)) {
    try {
        control::ControlClient client(options.socket_path);
        print(client.call(command, args));
        return 0;
    } catch (const control::ClientError& error) {
        std::cerr << "protowatch policy: " << error.what() << '\n';
        if (error.code() == control::kCodeDenied) return kExitDenied;
        if (error.code().empty()) return kExitFailed;
        return error.code() == control::kCodeFailed ? kExitRejected : kExitFailed;
    }
}

void print_policy(const nlohmann::json& result) {
    std::string source = result.value("source", "");
    std::cout << "# running policy" << (source.empty() ? "" : ", loaded from " + source)
              << '\n'
              << result.value("toml", "");
}

}  // namespace

void register_policy(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<PolicyOptions>();
    CLI::App* policy = app.add_subcommand(
        "policy", "Show or change the running agent's policy (changes need the admin role)");
    policy->require_subcommand(1);
    policy->add_option("--control-socket", options->socket_path,
                       fmt::format("The agent's control socket (default: ${} or {})",
                                   control::kSocketPathVariable, control::kDefaultSocketPath));

    CLI::App* show = policy->add_subcommand("show", "Print the running policy as TOML");
    show->callback([options, &exit_code] {
        exit_code = call_agent(*options, "policy.show", nlohmann::json::object(), print_policy);
    });

    CLI::App* apply = policy->add_subcommand(
        "apply", "Replace the running policy with a policy file (only admins may write it)");
    apply->add_option("FILE", options->file, "The TOML policy file")->required();
    apply->callback([options, &exit_code] {
        // The agent resolves the path itself, so a relative one is made absolute here.
        std::string path = std::filesystem::absolute(options->file).lexically_normal().string();
        exit_code = call_agent(*options, "policy.apply", {{"path", path}}, print_changes);
    });

    for (bool enabled : {true, false}) {
        CLI::App* toggle = policy->add_subcommand(
            enabled ? "enable" : "disable",
            enabled ? "Record statistics events of the listed protocols"
                    : "Stop recording statistics events (connect and disconnect stay)");
        toggle->callback([options, enabled, &exit_code] {
            exit_code = call_agent(*options, "policy.set_recording", {{"enabled", enabled}},
                                   print_changes);
        });
    }

    CLI::App* protocols =
        policy->add_subcommand("protocols", "Change the protocols whose statistics are recorded");
    protocols->require_subcommand(1);
    for (const char* operation : {"add", "remove"}) {
        CLI::App* edit = protocols->add_subcommand(
            operation, std::string(operation) + " protocols (names or ids, see `protowatch "
                                                "protocols`)");
        edit->add_option("NAME", options->protocols, "Protocol names or ids")->required();
        edit->callback([options, operation, &exit_code] {
            exit_code = call_agent(*options, "policy.protocols",
                                   {{"operation", operation}, {"protocols", options->protocols}},
                                   print_changes);
        });
    }
    // --control-socket may also come after the subcommand (`policy show --control-socket S`).
    for (CLI::App* sub : policy->get_subcommands({})) {
        sub->fallthrough();
        for (CLI::App* inner : sub->get_subcommands({})) inner->fallthrough();
    }
}

}  // namespace pw::cli
