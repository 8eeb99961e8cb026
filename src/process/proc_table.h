#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/event.h"

namespace pw::process {

// The maximum length of a command line in an event, and the mark that ends a longer one.
inline constexpr size_t kMaxCommandLineBytes = 4096;
inline constexpr const char* kTruncatedMark = " [truncated]";

// Reads a process's name, executable, command line (at most kMaxCommandLineBytes, then
// kTruncatedMark), real uid and user name from /proc/<pid>. Returns nothing when the
// process is gone.
std::optional<events::Process> read_process(int64_t pid);

// The name of user `uid` from the password database, empty when it has none.
std::string user_name(int64_t uid);

// Maps the inode of every socket that some process holds open to the lowest such pid, by
// reading the links under /proc/<pid>/fd. Processes whose fd directory cannot be read
// (gone, or not readable without CAP_SYS_PTRACE) are skipped.
std::unordered_map<uint64_t, int64_t> scan_socket_owners();

// Returns the newest process that holds socket `inode` open, stopping at the first found:
// the quick path for one new socket.
std::optional<int64_t> find_socket_owner(uint64_t inode);

// A network namespace and one process that lives in it, by which it can be entered.
struct NetworkNamespace {
    uint64_t inode = 0;  // of /proc/<pid>/ns/net, which identifies the namespace
    int64_t pid = 0;
};

// The distinct network namespaces of every process, from /proc/<pid>/ns/net.
std::vector<NetworkNamespace> list_network_namespaces();

// A network namespace that `ip netns add` named: a bind mount under /run/netns, which keeps
// the namespace alive while no process lives in it.
struct NamedNamespace {
    uint64_t inode = 0;
    std::string path;
};

std::vector<NamedNamespace> list_named_namespaces();

// The inode of this thread's own network namespace.
uint64_t own_network_namespace();

}  // namespace pw::process
