#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace pw::control {

// The process at the other end of a control connection, as the kernel reports it.
struct PeerCredentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;  // the uid's name, or the uid in decimal when it has none
    // Every group of the user in the group database (getgrouplist), the primary one included.
    std::vector<gid_t> groups;
};

// Reads the peer's credentials of a connected Unix socket (SO_PEERCRED) and resolves its
// user name and groups. Throws std::system_error when the socket has no peer credentials.
PeerCredentials read_peer_credentials(int fd);

// The user's name and groups from the user and group databases, `gid` added unless it is
// (gid_t)-1; `user` is the uid in decimal and `groups` holds only `gid` when the uid has no
// entry.
PeerCredentials resolve_user(uid_t uid, gid_t gid);

// The gid of group `name`, or nothing when the group does not exist.
std::optional<gid_t> find_group(const std::string& name);

}  // namespace pw::control
