#include "control/access.h"

#include <fmt/format.h>

#include <algorithm>

namespace pw::control {
namespace {

bool is_member(const PeerCredentials& peer, const std::string& group) {
    std::optional<gid_t> gid = find_group(group);
    return gid && std::find(peer.groups.begin(), peer.groups.end(), *gid) != peer.groups.end();
}

}  // namespace

const char* role_name(Role role) {
    switch (role) {
        case Role::kNone: return "none";
        case Role::kReader: return "reader";
        case Role::kAdmin: return "admin";
    }
    return "none";
}

Role role_of(const PeerCredentials& peer, const AccessGroups& groups) {
    if (peer.uid == 0 || is_member(peer, groups.admin_group)) return Role::kAdmin;
    if (is_member(peer, groups.reader_group)) return Role::kReader;
    return Role::kNone;
}

std::string refusal_message(const PeerCredentials& peer, const AccessGroups& groups,
                            const std::string& command, Role required) {
    const std::string& group =
        required == Role::kAdmin ? groups.admin_group : groups.reader_group;
    std::string missing = find_group(group) ? "" : fmt::format(" (group {} does not exist)", group);
    return fmt::format(
        "permission denied: user {} (uid {}) may not run '{}', which needs the {} role; "
        "members of group {} have it{}. Ask an administrator to run `usermod -aG {} {}`",
        peer.user, peer.uid, command, role_name(required), group, missing, group, peer.user);
}

}  // namespace pw::control
