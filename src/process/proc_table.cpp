#include "process/proc_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <set>
#include <string_view>

namespace pw::process {
namespace {

// Reading a /proc file of a process that exits meanwhile fails (ESRCH), and libstdc++'s
// file streams throw then. So the file is read with read(2), keeping what came before.
// At most `limit` bytes are kept, and `truncated` is set when the file had more.
std::string read_text(const std::string& path, size_t limit = SIZE_MAX,
                      bool* truncated = nullptr) {
    if (truncated != nullptr) *truncated = false;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string text;
    char buffer[4096];
    while (true) {
        const ssize_t length = ::read(fd, buffer, sizeof buffer);
        if (length > 0) {
            const size_t room = limit - text.size();
            if (static_cast<size_t>(length) > room) {
                text.append(buffer, room);
                if (truncated != nullptr) *truncated = true;
                break;
            }
            text.append(buffer, static_cast<size_t>(length));
        } else if (length < 0 && errno == EINTR) {
            continue;
        } else {
            break;
        }
    }
    ::close(fd);
    return text;
}

std::string read_link(const std::string& path) {
    char target[4096];
    ssize_t length = readlink(path.c_str(), target, sizeof target);
    return length > 0 ? std::string(target, static_cast<size_t>(length)) : std::string();
}

// The real uid from the "Uid:" line of /proc/<pid>/status, -1 when unreadable.
int64_t read_uid(const std::string& status) {
    size_t at = status.find("\nUid:");
    if (at == std::string::npos) return -1;
    const char* begin = status.data() + at + 5;
    while (*begin == '\t' || *begin == ' ') ++begin;
    int64_t uid = -1;
    std::from_chars(begin, status.data() + status.size(), uid);
    return uid;
}

// "socket:[12345]" gives 12345; anything else 0.
uint64_t socket_inode(std::string_view link) {
    constexpr std::string_view kPrefix = "socket:[";
    if (link.substr(0, kPrefix.size()) != kPrefix || link.back() != ']') return 0;
    uint64_t inode = 0;
    std::from_chars(link.data() + kPrefix.size(), link.data() + link.size() - 1, inode);
    return inode;
}

// The pid of every process in /proc, newest (highest) first.
std::vector<int64_t> list_pids() {
    std::vector<int64_t> pids;
    DIR* proc = opendir("/proc");
    if (proc == nullptr) return pids;
    while (dirent* entry = readdir(proc)) {
        int64_t pid = 0;
        std::string_view name = entry->d_name;
        auto [end, error] = std::from_chars(name.data(), name.data() + name.size(), pid);
        if (error == std::errc() && end == name.data() + name.size()) pids.push_back(pid);
    }
    closedir(proc);
    std::sort(pids.rbegin(), pids.rend());
    return pids;
}

template <typename Visit>
void for_each_pid(Visit visit) {
    for (int64_t pid : list_pids()) visit(pid);
}

// Calls `visit(inode)` for every socket the process holds until `visit` returns true.
// Returns true when it did.
template <typename Visit>
bool for_each_socket_of(int64_t pid, Visit visit) {
    std::string directory = "/proc/" + std::to_string(pid) + "/fd";
    DIR* fds = opendir(directory.c_str());
    if (fds == nullptr) return false;
    bool stopped = false;
    while (dirent* entry = readdir(fds)) {
        if (entry->d_name[0] == '.') continue;
        std::string link = read_link(directory + "/" + entry->d_name);
        // Without CAP_SYS_PTRACE every link of another user's process is denied: skip the
        // rest of the directory instead of failing on each of them.
        if (link.empty() && errno == EACCES) break;
        uint64_t inode = socket_inode(link);
        if (inode != 0 && visit(inode)) {
            stopped = true;
            break;
        }
    }
    closedir(fds);
    return stopped;
}

}  // namespace

std::string user_name(int64_t uid) {
    passwd entry{};
    passwd* found = nullptr;
    char buffer[1024];
    if (getpwuid_r(static_cast<uid_t>(uid), &entry, buffer, sizeof buffer, &found) != 0 ||
        found == nullptr) {
        return {};
    }
    return entry.pw_name;
}

std::optional<events::Process> read_process(int64_t pid) {
    std::string base = "/proc/" + std::to_string(pid);
    std::string status = read_text(base + "/status");
    if (status.empty()) return std::nullopt;

    events::Process process;
    process.pid = pid;
    process.name = read_text(base + "/comm");
    // Every process has a name; none means that it exited after its status was read.
    if (process.name.empty()) return std::nullopt;
    if (process.name.back() == '\n') process.name.pop_back();
    process.executable = read_link(base + "/exe");
    // The arguments are separated by NUL bytes; a space separates them here. Any user may
    // start a process with megabytes of arguments, which every event of its connections
    // would carry into the store and to NATS (whose messages hold 1 MiB by default), so
    // they are cut at kMaxCommandLineBytes.
    bool truncated = false;
    process.command_line = read_text(base + "/cmdline", kMaxCommandLineBytes, &truncated);
    while (!process.command_line.empty() && process.command_line.back() == '\0') {
        process.command_line.pop_back();
    }
    for (char& c : process.command_line) {
        if (c == '\0') c = ' ';
    }
    if (truncated) process.command_line += kTruncatedMark;
    process.uid = read_uid(status);
    if (process.uid >= 0) process.user = user_name(process.uid);
    return process;
}

std::unordered_map<uint64_t, int64_t> scan_socket_owners() {
    std::unordered_map<uint64_t, int64_t> owners;
    for_each_pid([&](int64_t pid) {
        for_each_socket_of(pid, [&](uint64_t inode) {
            auto [at, inserted] = owners.emplace(inode, pid);
            if (!inserted && pid < at->second) at->second = pid;
            return false;
        });
    });
    return owners;
}

std::optional<int64_t> find_socket_owner(uint64_t inode) {
    // The newest processes first: a socket that was just created most likely belongs to
    // one, and the walk stops at the first holder.
    for (int64_t pid : list_pids()) {
        if (for_each_socket_of(pid, [&](uint64_t held) { return held == inode; })) return pid;
    }
    return std::nullopt;
}

std::vector<NetworkNamespace> list_network_namespaces() {
    std::vector<NetworkNamespace> result;
    std::set<uint64_t> seen;
    for_each_pid([&](int64_t pid) {
        struct stat info {};
        std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
        if (stat(path.c_str(), &info) != 0) return;
        if (seen.insert(info.st_ino).second) result.push_back({info.st_ino, pid});
    });
    return result;
}

std::vector<NamedNamespace> list_named_namespaces() {
    std::vector<NamedNamespace> result;
    DIR* directory = opendir("/run/netns");
    if (directory == nullptr) return result;
    while (dirent* entry = readdir(directory)) {
        if (entry->d_name[0] == '.') continue;
        std::string path = std::string("/run/netns/") + entry->d_name;
        struct stat info {};
        if (stat(path.c_str(), &info) == 0) result.push_back({info.st_ino, path});
    }
    closedir(directory);
    return result;
}

uint64_t own_network_namespace() {
    struct stat info {};
    if (stat("/proc/thread-self/ns/net", &info) != 0) return 0;
    return info.st_ino;
}

}  // namespace pw::process
