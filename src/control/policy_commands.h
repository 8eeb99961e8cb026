#pragma once

#include "control/server.h"
#include "policy/policy_holder.h"

namespace pw::control {

// Registers the policy commands on `server` (docs/policy.md lists them): policy.show for
// readers; policy.apply, policy.reload, policy.set_recording and policy.protocols for admins.
// The server's access groups follow the policy's [access] table from then on.
void register_policy_commands(ControlServer& server, policy::PolicyHolder& holder);

// The actor of a control request, for audit events.
policy::Actor actor_of(const Caller& caller);

}  // namespace pw::control
