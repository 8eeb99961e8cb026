#pragma once

#include <sys/capability.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pw::daemon {

struct PrivilegeSettings {
    // The capabilities the agent keeps, permitted and effective; every other one leaves the
    // permitted, effective, inheritable, ambient and bounding sets.
    std::vector<cap_value_t> keep;
    // A user to switch to (with its primary group and no supplementary groups); empty keeps
    // the current user. Switching needs CAP_SETUID and CAP_SETGID, which are then dropped.
    std::string user;
};

// The capabilities live capture and process attribution need: CAP_NET_RAW for packet
// sockets, CAP_NET_ADMIN for promiscuous mode and sock_diag of every socket, CAP_SYS_PTRACE
// to read /proc/PID/fd of other users' processes and CAP_DAC_READ_SEARCH to read the
// policy and the store wherever an admin keeps them; CAP_SYS_ADMIN only with `setns`, for
// sockets in other network namespaces.
std::vector<cap_value_t> agent_capabilities(bool setns);

// Drops every privilege outside `settings` for good: switches the user when asked, limits
// the capability sets to `settings.keep` and sets no_new_privs, so that no later exec can
// gain privileges back. Call after the sockets and files that need more are open, and before
// threads start (capabilities are per thread). Throws std::runtime_error naming the step that
// failed.
void drop_privileges(const PrivilegeSettings& settings);

// Raises the soft limit of open files to the hard limit and returns the new soft limit. The
// agent keeps sockets open in every network namespace it reads, three per namespace, which
// a host with a few hundred containers takes past the usual soft limit of 1,024.
uint64_t raise_open_file_limit();

// Returns true when the calling thread's effective capability set contains `capability`.
bool has_effective_capability(cap_value_t capability);

// The process's effective capabilities in cap_to_text form ("cap_net_raw,cap_net_admin=ep").
std::string current_capabilities();

}  // namespace pw::daemon
