#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capture/live_interface.h"
#include "pipeline/settings.h"
#include "policy/recording_filter.h"
#include "process/attributor.h"
#include "store/store_options.h"

namespace pw::agent {

// Everything the live agent runs with. The command line fills it, or the policy file
// (policy_config.h) sets the interfaces, store, capture buffer, filter and statistics interval.
struct AgentConfig {
    std::vector<std::string> interfaces;  // empty: every interface, through "any"
    capture::LiveOptions capture;
    pipeline::Settings settings;  // settings.statistics_interval_s is the stats interval
    store::StoreOptions store;
    std::string json_path;  // JSON Lines output besides the store, empty for none
    // Capture workers, each with its own capture handles and pipeline; the kernel spreads
    // every interface's packets over them by address pair (PACKET_FANOUT).
    unsigned threads = 1;
    bool attribute_processes = true;
    process::AttributorOptions attribution;
    // With a policy: the rules of the filter in front of the store. Without one every event
    // is stored.
    std::optional<policy::RecordingRules> recording;
    // Runs once the capture is open and before the agent starts any thread, which is where
    // privileges can be dropped for every thread at once.
    std::function<void()> after_capture_open;
};

}  // namespace pw::agent
