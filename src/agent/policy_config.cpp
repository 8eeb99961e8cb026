#include "agent/policy_config.h"

#include <string>

namespace pw::agent {

void apply_policy(const policy::Policy& policy, AgentConfig& config) {
    config.interfaces = policy.interfaces;
    config.capture.filter = policy.bpf_filter;
    config.capture.buffer_size = static_cast<int>(policy.capture_buffer_bytes);
    config.settings.statistics_interval_s =
        static_cast<double>(policy.statistics_interval_ms) / 1000.0;
    config.settings.max_memory_bytes = policy.max_memory_bytes;
    config.store.path = policy.store_path;
    config.store.disabled = false;
    // The store options hold sizes and durations as the command line writes them.
    config.store.max_size = std::to_string(policy.store_max_bytes);
    config.store.max_age =
        policy.store_max_age_ms == 0 ? "0" : std::to_string(policy.store_max_age_ms) + "ms";
    config.recording = policy::RecordingRules::from(policy);
}

bool needs_restart(const policy::Policy& before, const policy::Policy& after) {
    return before.statistics_interval_ms != after.statistics_interval_ms ||
           before.max_memory_bytes != after.max_memory_bytes ||
           before.store_path != after.store_path ||
           before.store_max_bytes != after.store_max_bytes ||
           before.store_max_age_ms != after.store_max_age_ms || before.nats != after.nats;
}

bool capture_changed(const policy::Policy& before, const policy::Policy& after) {
    return before.interfaces != after.interfaces || before.bpf_filter != after.bpf_filter ||
           before.capture_buffer_bytes != after.capture_buffer_bytes;
}

}  // namespace pw::agent
