#include "control/peer.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

namespace pw::control {
namespace {

// Room for the name and the passwd or group entry's strings; the lookups retry with a larger
// buffer on ERANGE.
constexpr size_t kInitialEntryBuffer = 1024;

}  // namespace

PeerCredentials resolve_user(uid_t uid, gid_t gid) {
    PeerCredentials peer;
    peer.uid = uid;
    peer.gid = gid;
    peer.user = std::to_string(uid);
    peer.groups = {gid};

    passwd entry{};
    passwd* found = nullptr;
    std::vector<char> buffer(kInitialEntryBuffer);
    while (getpwuid_r(uid, &entry, buffer.data(), buffer.size(), &found) == ERANGE) {
        buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr) return peer;
    peer.user = found->pw_name;

    // Group membership comes from the group database rather than from the peer process, so
    // that removing a user from the admin group takes effect on the next request.
    // getgrouplist adds only the group it is given to the memberships of /etc/group, so it
    // gets the passwd entry's primary group and the process's own gid is added after.
    int count = 32;
    std::vector<gid_t> groups(static_cast<size_t>(count));
    while (getgrouplist(found->pw_name, found->pw_gid, groups.data(), &count) == -1) {
        groups.resize(static_cast<size_t>(count) + 1);
        count = static_cast<int>(groups.size());
    }
    groups.resize(static_cast<size_t>(count));
    if (gid != static_cast<gid_t>(-1) &&
        std::find(groups.begin(), groups.end(), gid) == groups.end()) {
        groups.push_back(gid);
    }
    peer.groups = std::move(groups);
    return peer;
}

PeerCredentials read_peer_credentials(int fd) {
    ucred credentials{};
    socklen_t length = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) {
        throw std::system_error(errno, std::generic_category(), "SO_PEERCRED");
    }
    PeerCredentials peer = resolve_user(credentials.uid, credentials.gid);
    peer.pid = credentials.pid;
    return peer;
}

std::optional<gid_t> find_group(const std::string& name) {
    group entry{};
    group* found = nullptr;
    std::vector<char> buffer(kInitialEntryBuffer);
    while (getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == ERANGE) {
        buffer.resize(buffer.size() * 2);
    }
    if (found == nullptr) return std::nullopt;
    return found->gr_gid;
}

}  // namespace pw::control
