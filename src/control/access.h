#pragma once

#include <string>

#include "control/peer.h"

namespace pw::control {

// What a caller of the control socket may do; each role includes the ones before it.
enum class Role { kNone = 0, kReader = 1, kAdmin = 2 };

const char* role_name(Role role);

// The groups that grant the roles, from the policy's [access] table.
struct AccessGroups {
    std::string admin_group = "protowatch-admin";
    std::string reader_group = "protowatch-reader";
};

// Root and members of the admin group are admins; members of the reader group are readers.
// A group missing from the group database grants nothing.
Role role_of(const PeerCredentials& peer, const AccessGroups& groups);

// The message for a caller whose role is below `required`, naming the user, the command and
// the group to join.
std::string refusal_message(const PeerCredentials& peer, const AccessGroups& groups,
                            const std::string& command, Role required);

}  // namespace pw::control
