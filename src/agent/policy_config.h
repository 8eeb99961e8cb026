#pragma once

#include "agent/agent_config.h"
#include "policy/policy.h"

namespace pw::agent {

// Fills the parts of `config` that the policy decides: interfaces, BPF filter, capture
// buffer, statistics interval, memory bound, store path and retention, and the recording
// rules. The other
// fields (JSON output, attribution, device name) keep their values.
void apply_policy(const policy::Policy& policy, AgentConfig& config);

// True when going from `before` to `after` changes a key that the agent reads only at
// start-up (store, statistics interval, [flows], [nats]), so that it needs a restart.
bool needs_restart(const policy::Policy& before, const policy::Policy& after);

// True when going from `before` to `after` changes the [capture] table, which the agent
// applies at once (Agent::set_capture).
bool capture_changed(const policy::Policy& before, const policy::Policy& after);

}  // namespace pw::agent
