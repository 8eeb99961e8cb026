#pragma once

#include <cstdint>
#include <string>

#include "host/netlink.h"

namespace pw::process {

// Opens a netlink socket of `protocol` (NETLINK_SOCK_DIAG, NETLINK_ROUTE), joined to the
// multicast `groups`, inside the network namespace that `path` refers to (/proc/<pid>/ns/net,
// or a name under /run/netns). A netlink socket stays bound to the namespace it was created
// in, so requests on it reach that namespace from any thread. Creating it takes setns(2),
// which needs CAP_SYS_ADMIN. That runs in a short-lived thread, so that no thread of the
// agent changes its own namespace. Throws std::system_error.
host::NetlinkSocket open_netlink_in(const std::string& path, int protocol, uint32_t groups = 0);

}  // namespace pw::process
