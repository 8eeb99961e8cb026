#include "agent/agent_commands.h"

namespace pw::agent {

void register_agent_commands(control::ControlServer& server, const Agent& agent) {
    server.register_command("status", control::Role::kReader,
                            [&agent](auto&, auto&, auto&) { return agent.status(); });
    // One item per connection: the listing of a busy server is longer than one line of the
    // protocol may be (control::kMaxLineBytes, a few thousand connections).
    server.register_command(
        "netstat", control::Role::kReader, [&agent](auto&, auto&, control::Reply& reply) {
            const size_t count = agent.for_each_connection(
                [&reply](const nlohmann::json& connection) { reply.send_item(connection); });
            return nlohmann::json{{"connections", count}};
        });
}

}  // namespace pw::agent
