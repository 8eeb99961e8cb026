#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace pw::agent {

// Reads the state a running agent writes every second to `path`: {"pid", "status",
// "connections"}. Returns nothing, with the reason in `why_not`, when the file is missing,
// unreadable, or left by an agent that no longer runs.
// NOTE: `status` and `netstat` read this file until they are served over the control
// socket; Agent::status() and Agent::connections() are the replies to serve there.
std::optional<nlohmann::json> read_agent_state(const std::string& path, std::string& why_not);

}  // namespace pw::agent
