// `protowatch status`: the running agent's capture counters, flows, events, CPU use and
// uptime.

#include <fmt/core.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "cli/commands.h"
#include "control/client.h"

namespace pw::cli {
namespace {

// Exit statuses, as for `protowatch policy`: no agent or a failed connection exits 1, and a
// caller without the reader role (the kernel or the agent denied it) exits 4.
constexpr int kExitFailed = 1;
constexpr int kExitDenied = 4;

struct StatusOptions {
    std::string socket_path = control::default_socket_path();
    bool json = false;
};

void print_status(const nlohmann::json& status) {
    const nlohmann::json& capture = status["capture"];
    fmt::print("uptime            {:.0f} s\n", status["uptime_s"].get<double>());
    fmt::print("frames            {} ({} bytes), {} tracked\n", capture["frames"].get<uint64_t>(),
               capture["bytes"].get<uint64_t>(), capture["packets_tracked"].get<uint64_t>());
    fmt::print("drops             {} by the kernel, {} by interfaces\n",
               capture["kernel_drops"].get<uint64_t>(), capture["interface_drops"].get<uint64_t>());
    for (const nlohmann::json& interface : capture["interfaces"]) {
        std::string state = interface["open"].get<bool>()
                                ? "open"
                                : "closed: " + interface["error"].get<std::string>();
        fmt::print("  {:<15} {} packets, {} kernel drops, {} interface drops, {} reopens ({})\n",
                   interface["name"].get<std::string>(), interface["packets"].get<uint64_t>(),
                   interface["kernel_drops"].get<uint64_t>(),
                   interface["interface_drops"].get<uint64_t>(),
                   interface["reopens"].get<uint64_t>(), state);
    }
    fmt::print("flows             {}\n", status["flows"]["total"].get<uint64_t>());
    fmt::print("events            {}\n", status["events"].get<uint64_t>());
    const nlohmann::json& cpu = status["cpu"];
    fmt::print("cpu               {:.1f} ms in total, {:.2f} ms per 1000 packets\n",
               cpu["total_ms"].get<double>(), cpu["ms_per_1000_packets"].get<double>());
    for (const nlohmann::json& worker : cpu.value("workers", nlohmann::json::array())) {
        fmt::print(
            "  worker {:<8} {} packets on {} handles, {:.1f} ms, {:.2f} ms per 1000 "
            "packets\n",
            worker["worker"].get<uint64_t>(), worker["packets"].get<uint64_t>(),
            worker["handles"].get<uint64_t>(), worker["total_ms"].get<double>(),
            worker["ms_per_1000_packets"].get<double>());
    }
    if (status.contains("attribution")) {
        const nlohmann::json& a = status["attribution"];
        fmt::print(
            "attribution       {} of {} connections ({} looked up early), {} network "
            "namespaces ({} unreadable)\n",
            a["attributed"].get<uint64_t>(), a["lookups"].get<uint64_t>(),
            a.value("early_lookups", uint64_t{0}), a["network_namespaces"].get<uint64_t>(),
            a["unreadable_namespaces"].get<uint64_t>());
    }
    if (status.contains("store")) {
        const nlohmann::json& store = status["store"];
        fmt::print(
            "store             {} events committed, {} waiting{}, {} lost, {} removed by "
            "retention ({} by age, {} by size)\n",
            store["committed"].get<uint64_t>(), store.value("waiting", uint64_t{0}),
            store.value("failing", false) ? " (the store cannot be written, see the log)" : "",
            store["lost"].get<uint64_t>(),
            store.value("removed_by_age", uint64_t{0}) +
                store.value("removed_by_size", uint64_t{0}),
            store.value("removed_by_age", uint64_t{0}),
            store.value("removed_by_size", uint64_t{0}));
    }
}

}  // namespace

void register_status(CLI::App& app, int& exit_code) {
    auto options = std::make_shared<StatusOptions>();
    CLI::App* command = app.add_subcommand("status", "Show the running agent's counters");
    command->add_option("--control-socket", options->socket_path,
                        fmt::format("The agent's control socket (default: ${} or {})",
                                    control::kSocketPathVariable, control::kDefaultSocketPath));
    command->add_flag("--json", options->json, "Print the status as one JSON object");
    command->callback([options, &exit_code] {
        nlohmann::json status;
        try {
            control::ControlClient client(options->socket_path);
            status = client.call("status");
        } catch (const control::ClientError& error) {
            spdlog::error("{}", error.what());
            exit_code = error.code() == control::kCodeDenied ? kExitDenied : kExitFailed;
            return;
        }
        if (options->json) {
            fmt::print("{}\n",
                       status.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        } else {
            print_status(status);
        }
        exit_code = 0;
    });
}

}  // namespace pw::cli
