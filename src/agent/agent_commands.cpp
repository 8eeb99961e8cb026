#include "agent/agent_commands.h"

namespace pw::agent {

void register_agent_commands(control::ControlServer& server, const Agent& agent) {
    server.register_command("status", control::Role::kReader,
                            [&agent](auto&, auto&, auto&) { return agent.status(); });
    // One item per connection: the listing of a busy server is longer than one line of the
    // protocol may be (control::kMaxLineBytes, a few thousand connections).
    server.register_command("netstat", control::Role::kReader,
                            [&agent](auto&, auto&, control::Reply& reply) {
                                size_t count = 0;
                                for (const nlohmann::json& connection : agent.connections()) {
                                    reply.send_item(connection);
                                    ++count;
                                }
                                return nlohmann::json{{"connections", count}};
                            });
}

}  // namespace pw::agent
