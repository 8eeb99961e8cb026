#include "agent/state_file.h"

#include <signal.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace pw::agent {

std::optional<nlohmann::json> read_agent_state(const std::string& path, std::string& why_not) {
    std::ifstream file(path);
    if (!file) {
        why_not = "no agent state at " + path + " (" + std::strerror(errno) +
                  "); start `protowatch agent`, or pass its --state-file";
        return std::nullopt;
    }
    nlohmann::json state = nlohmann::json::parse(file, nullptr, false);
    if (!state.is_object() || !state.contains("pid")) {
        why_not = "the agent state at " + path + " is not valid JSON";
        return std::nullopt;
    }
    auto pid = state["pid"].get<pid_t>();
    // EPERM: the agent runs as another user, which still means it runs.
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        why_not = "the agent that wrote " + path + " (pid " + std::to_string(pid) +
                  ") no longer runs";
        return std::nullopt;
    }
    return state;
}

}  // namespace pw::agent
