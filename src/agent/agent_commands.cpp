#include "agent/agent_commands.h"

namespace pw::agent {

void register_agent_commands(control::ControlServer& server, const Agent& agent) {
    server.register_command("status", control::Role::kReader,
                            [&agent](auto&, auto&, auto&) { return agent.status(); });
    server.register_command("netstat", control::Role::kReader,
                            [&agent](auto&, auto&, auto&) { return agent.connections(); });
}

}  // namespace pw::agent
