#pragma once

#include <string>
#include <vector>

#include "capture/live_interface.h"
#include "pipeline/settings.h"
#include "process/attributor.h"
#include "store/store_options.h"

namespace pw::agent {

// Everything the live agent runs with. The command line fills it now; the policy file sets
// the interfaces, store, capture buffer, filter and statistics interval in the same fields.
struct AgentConfig {
    std::vector<std::string> interfaces;  // empty: every interface, through "any"
    capture::LiveOptions capture;
    pipeline::Settings settings;  // settings.statistics_interval_s is the stats interval
    store::StoreOptions store;
    std::string json_path;   // JSON Lines output besides the store, empty for none
    std::string state_path;  // where `status` and `netstat` read the agent's state
    bool attribute_processes = true;
    process::AttributorOptions attribution;
};

// The state file used when none is given: /run/protowatch/agent.json for root, else
// $XDG_RUNTIME_DIR/protowatch/agent.json, else /tmp/protowatch-<uid>/agent.json.
std::string default_state_path();

}  // namespace pw::agent
