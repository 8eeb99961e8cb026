#pragma once

#include "agent/agent.h"
#include "control/server.h"

namespace pw::agent {

// Registers the commands that read the running agent, both for the reader role. `status`
// returns Agent::status(). `netstat` sends each row of Agent::for_each_connection() as an
// item and returns their count as `connections`.
void register_agent_commands(control::ControlServer& server, const Agent& agent);

}  // namespace pw::agent
