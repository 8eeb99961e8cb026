// The control loop of the agent without capture, for the permission tests. It loads a policy
// file and serves the policy commands on a control socket. It records audit events in the
// policy's store, reloads on SIGHUP and exits on SIGTERM.
//
// Usage: policy_agent POLICY_FILE SOCKET_PATH [--drop-privileges]

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "control/policy_commands.h"
#include "control/server.h"
#include "daemon/privileges.h"
#include "daemon/signals.h"
#include "policy/policy_holder.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::cerr << "usage: policy_agent POLICY_FILE SOCKET_PATH [--drop-privileges]\n";
        return 2;
    }
    // Logs go to stderr, as the agent's do; stdout carries the ready line.
    spdlog::set_default_logger(spdlog::stderr_color_mt("policy_agent"));
    bool drop = argc > 3 && std::strcmp(argv[3], "--drop-privileges") == 0;
    try {
        pw::daemon::SignalWatcher signals;
        std::unique_ptr<pw::policy::PolicyHolder> holder =
            pw::policy::PolicyHolder::load(argv[1]);
        holder->set_audit_recorder(pw::policy::store_audit_recorder());

        pw::control::ServerSettings settings;
        settings.socket_path = argv[2];
        pw::control::ControlServer server(settings);
        pw::control::register_policy_commands(server, *holder);
        // Privileges go before the server's threads start, since capabilities are per thread.
        if (drop) pw::daemon::drop_privileges({pw::daemon::agent_capabilities(false), ""});
        server.start();
        std::cout << "ready " << pw::daemon::current_capabilities() << std::endl;

        while (true) {
            std::optional<pw::daemon::ReceivedSignal> signal = signals.wait(-1);
            if (!signal) continue;
            if (signal->number == SIGHUP) {
                pw::control::PeerCredentials sender =
                    pw::control::resolve_user(signal->sender_uid, static_cast<gid_t>(-1));
                holder->reload({sender.uid, sender.user, signal->sender_pid});
                continue;
            }
            spdlog::info("stopping on signal {}", strsignal(signal->number));
            server.stop();
            return 0;
        }
    } catch (const std::exception& error) {
        spdlog::error("{}", error.what());
        return 1;
    }
}
