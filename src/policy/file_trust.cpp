#include "policy/file_trust.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <string_view>

#include "control/peer.h"
#include "policy/policy.h"

namespace pw::policy {
namespace {

// The most a policy file may hold; a real policy is a few kilobytes.
constexpr size_t kMaxPolicyBytes = 1 << 20;
// Symbolic links followed in one path before it counts as a loop, as Linux's own path
// resolution allows (MAXSYMLINKS, path_resolution(7)).
constexpr int kMaxLinks = 40;

struct AdminIds {
    std::optional<gid_t> admin_gid;

    bool is_admin_user(uid_t uid) const {
        if (uid == 0) return true;
        if (!admin_gid) return false;
        control::PeerCredentials user = control::resolve_user(uid, static_cast<gid_t>(-1));
        return std::find(user.groups.begin(), user.groups.end(), *admin_gid) != user.groups.end();
    }
    bool is_admin_group(gid_t gid) const { return gid == 0 || (admin_gid && gid == *admin_gid); }
};

std::string mode_text(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

const char* kind_of(const struct stat& status) {
    if (S_ISDIR(status.st_mode)) return "directory";
    if (S_ISLNK(status.st_mode)) return "link";
    return "file";
}

// The name of group `gid`, or the gid in decimal when it has none.
std::string group_name(gid_t gid) {
    group entry{};
    group* found = nullptr;
    std::vector<char> buffer(1024);
    while (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == ERANGE) {
        buffer.resize(buffer.size() * 2);
    }
    return found != nullptr ? std::string(found->gr_name) : std::to_string(gid);
}

// Throws when the entry open as `fd` has an access control list. Its entries can let a user
// write or read what the permission bits deny, and the checks here read only the bits, so an
// entry with one is rejected rather than half checked.
void check_no_acl(int fd, const std::string& path, const struct stat& status) {
    // An O_PATH descriptor has no xattr calls of its own; its /proc link reaches the inode.
    const std::string link = fmt::format("/proc/self/fd/{}", fd);
    if (getxattr(link.c_str(), "system.posix_acl_access", nullptr, 0) >= 0) {
        throw PolicyError(path, 0, "",
                          fmt::format("the policy {} has an access control list, which could "
                                      "let a non-admin change it or keep a reader from it; "
                                      "remove it with `setfacl -b {}`",
                                      kind_of(status), path));
    }
    if (errno == ENODATA || errno == ENOTSUP) return;
    throw PolicyError(path, 0, "",
                      fmt::format("cannot check the access control list of the policy {}: {}",
                                  kind_of(status), std::strerror(errno)));
}

// Throws when the file open as `fd` is one of the kernel's (/proc, /sys). Their bits do not
// tell what they show: /proc/self/maps is readable by everyone's bits but contains the memory
// map of the process that reads it, here the agent.
void check_not_kernel_file(int fd, const std::string& path) {
    constexpr decltype(statfs::f_type) kProc = 0x9fa0;     // PROC_SUPER_MAGIC, statfs(2)
    constexpr decltype(statfs::f_type) kSys = 0x62656572;  // SYSFS_MAGIC
    struct statfs system {};
    if (fstatfs(fd, &system) != 0) {
        throw PolicyError(path, 0, "",
                          fmt::format("cannot check the file system of the policy file: {}",
                                      std::strerror(errno)));
    }
    if (system.f_type == kProc || system.f_type == kSys) {
        throw PolicyError(path, 0, "",
                          "the policy path is a file of the kernel (/proc or /sys), not a "
                          "policy file");
    }
}

void check_owner(const std::string& path, const struct stat& status, const AdminIds& ids,
                 const std::string& admin_group) {
    if (ids.is_admin_user(status.st_uid)) return;
    control::PeerCredentials owner = control::resolve_user(status.st_uid, status.st_gid);
    throw PolicyError(path, 0, "",
                      fmt::format("the policy {} is owned by user {}, who is neither root nor in "
                                  "group {}; run `chown {}root {}`",
                                  kind_of(status), owner.user, admin_group,
                                  S_ISLNK(status.st_mode) ? "-h " : "", path));
}

// Throws when `status` lets a non-admin change the entry at `path`.
void check_entry(const std::string& path, const struct stat& status, const AdminIds& ids,
                 bool allow_sticky, const std::string& admin_group) {
    check_owner(path, status, ids, admin_group);
    const char* kind = kind_of(status);
    if ((status.st_mode & S_IWGRP) != 0 && !ids.is_admin_group(status.st_gid)) {
        throw PolicyError(path, 0, "",
                          fmt::format("the policy {} is writable by group {} (mode {}), which "
                                      "is not the admin group {}; run `chmod g-w {}`",
                                      kind, group_name(status.st_gid), mode_text(status.st_mode),
                                      admin_group, path));
    }
    bool sticky = (status.st_mode & S_ISVTX) != 0;
    if ((status.st_mode & S_IWOTH) != 0 && !(allow_sticky && sticky)) {
        throw PolicyError(path, 0, "",
                          fmt::format("the policy {} is writable by every user (mode {}); run "
                                      "`chmod o-w {}` or keep the policy in /etc/protowatch",
                                      kind, mode_text(status.st_mode), path));
    }
}

// True when the permission bits of `status` that apply to `reader` (the owner's, the
// group's or the others') include `owner`, `group` and `other` respectively.
bool permits(const ReadingUser& reader, const struct stat& status, mode_t owner, mode_t group,
             mode_t other) {
    if (reader.uid == 0) return true;
    if (static_cast<int64_t>(status.st_uid) == reader.uid) return (status.st_mode & owner) != 0;
    bool member = std::find(reader.groups.begin(), reader.groups.end(), status.st_gid) !=
                  reader.groups.end();
    return (status.st_mode & (member ? group : other)) != 0;
}

[[noreturn]] void unreadable_for(const ReadingUser& reader, const std::string& path) {
    throw PolicyError(path, 0, "",
                      fmt::format("user {} (uid {}) cannot read the policy file, or it does not "
                                  "exist; give a file that user can read",
                                  reader.user, reader.uid));
}

class Descriptor {
  public:
    explicit Descriptor(int fd) : fd_(fd) {}
    ~Descriptor() {
        if (fd_ >= 0) close(fd_);
    }
    Descriptor(Descriptor&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Descriptor& operator=(Descriptor&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    Descriptor(const Descriptor&) = delete;
    Descriptor& operator=(const Descriptor&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

// A directory reached on the way, open without read access (O_PATH).
struct Step {
    Descriptor fd;
    struct stat status;
    std::string path;  // as resolved so far, for messages
};

std::string child_path(const std::string& directory, std::string_view name) {
    return directory == "/" ? "/" + std::string(name) : directory + "/" + std::string(name);
}

// Splits `path` into its components, in front of those already in `pending`. A path that
// ends in a slash names a directory, as the kernel takes it, so it gets a last ".".
void push_components(std::string_view path, std::deque<std::string>& pending) {
    std::deque<std::string> parts;
    size_t at = 0;
    while (at < path.size()) {
        size_t end = path.find('/', at);
        if (end == std::string_view::npos) end = path.size();
        if (end > at) parts.emplace_back(path.substr(at, end - at));
        at = end + 1;
    }
    if (!parts.empty() && path.back() == '/') parts.emplace_back(".");
    pending.insert(pending.begin(), parts.begin(), parts.end());
}

PolicyError too_large(const std::string& path) {
    return PolicyError(
        path, 0, "",
        fmt::format("the policy file is larger than {} bytes; a policy is a few keys",
                    kMaxPolicyBytes));
}

// Reads the file open as `fd` to its end, which may lie past the size it had when checked.
std::string read_all(int fd, const std::string& path) {
    std::string text;
    char chunk[8192];
    ssize_t count;
    while ((count = read(fd, chunk, sizeof chunk)) > 0) {
        text.append(chunk, static_cast<size_t>(count));
        if (text.size() > kMaxPolicyBytes) {
            throw too_large(path);
        }
    }
    if (count < 0) {
        throw PolicyError(path, 0, "",
                          fmt::format("cannot read the policy file: {}", std::strerror(errno)));
    }
    return text;
}

}  // namespace

std::string read_trusted_policy_file(const std::string& given, const std::string& admin_group,
                                     const ReadingUser& reader) {
    if (given.empty() || given.find('\0') != std::string::npos) {
        std::string printable = given;  // a message ends at its first NUL
        std::replace(printable.begin(), printable.end(), '\0', '?');
        throw PolicyError(printable, 0, "",
                          "the policy path is empty or contains a NUL character; give the "
                          "file's path");
    }
    // A relative path (an agent's --policy) is taken from the working directory.
    std::error_code error;
    const std::string path =
        given[0] == '/' ? given : std::filesystem::absolute(given, error).string();
    if (error) {
        throw PolicyError(given, 0, "",
                          fmt::format("cannot find the policy file from the working directory: "
                                      "{}; give its absolute path",
                                      error.message()));
    }
    const AdminIds ids{control::find_group(admin_group)};
    // Resolved paths are shown to root only: for another user they could reveal where the
    // agent's own links lead, such as /proc/self/cwd. Trust failures, which an admin must
    // fix at the resolved path, name it anyway.
    auto path_for_reader = [&](const std::string& resolved) {
        return reader.uid == 0 ? resolved : path;
    };
    auto cannot_open = [&](const std::string& at) -> PolicyError {
        const std::string place = reader.uid == 0 ? fmt::format(" at {}", at) : "";
        return PolicyError(path, 0, "",
                           fmt::format("cannot open the policy file: {}{}; check the path",
                                       std::strerror(errno), place));
    };

    std::vector<Step> chain;
    {
        Descriptor root(open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
        struct stat status {};
        if (root.get() < 0 || fstat(root.get(), &status) != 0) throw cannot_open("/");
        chain.push_back({std::move(root), status, "/"});
    }
    // A directory is checked as it is entered. A sticky world-writable one passes then, and
    // fails later only if it contains the file itself.
    auto enter = [&](Step& step) {
        if (!permits(reader, step.status, S_IXUSR, S_IXGRP, S_IXOTH)) {
            unreadable_for(reader, path_for_reader(step.path));
        }
        check_entry(step.path, step.status, ids, true, admin_group);
        check_no_acl(step.fd.get(), step.path, step.status);
    };
    enter(chain.back());

    std::deque<std::string> pending;
    push_components(path, pending);
    int links = 0;
    while (!pending.empty()) {
        const std::string name = std::move(pending.front());
        pending.pop_front();
        if (name == ".") continue;
        if (name == "..") {
            if (chain.size() > 1) chain.pop_back();
            continue;
        }
        const Step& directory = chain.back();
        const std::string entry_path = child_path(directory.path, name);
        Descriptor entry(openat(directory.fd.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        struct stat status {};
        if (entry.get() < 0 || fstat(entry.get(), &status) != 0) {
            if (errno == EACCES) unreadable_for(reader, path_for_reader(entry_path));
            throw cannot_open(entry_path);
        }
        if (S_ISLNK(status.st_mode)) {
            // The link's owner can retarget it, so the owner must be an admin. Its directory
            // was checked on the way in, and a sticky one keeps others from replacing it.
            check_owner(entry_path, status, ids, admin_group);
            if (++links > kMaxLinks) {
                errno = ELOOP;
                throw cannot_open(entry_path);
            }
            char target[PATH_MAX];
            ssize_t length = readlinkat(entry.get(), "", target, sizeof target);
            if (length <= 0 || static_cast<size_t>(length) >= sizeof target) {
                if (length >= 0) errno = ENAMETOOLONG;
                throw cannot_open(entry_path);
            }
            const std::string_view link(target, static_cast<size_t>(length));
            if (link.front() == '/') chain.erase(chain.begin() + 1, chain.end());
            push_components(link, pending);
            continue;
        }
        if (S_ISDIR(status.st_mode) && !pending.empty()) {
            chain.push_back({std::move(entry), status, entry_path});
            enter(chain.back());
            continue;
        }
        if (!S_ISREG(status.st_mode) || !pending.empty()) {
            throw PolicyError(path_for_reader(entry_path), 0, "", "the policy path is not a regular file");
        }
        if (!permits(reader, status, S_IRUSR, S_IRGRP, S_IROTH)) {
            unreadable_for(reader, path_for_reader(entry_path));
        }
        check_entry(entry_path, status, ids, false, admin_group);
        check_no_acl(entry.get(), entry_path, status);
        check_not_kernel_file(entry.get(), entry_path);
        // The file's own directory may not be world-writable even with the sticky bit.
        check_entry(directory.path, directory.status, ids, false, admin_group);
        if (static_cast<uint64_t>(status.st_size) > kMaxPolicyBytes) {
            throw too_large(entry_path);
        }
        // The O_PATH descriptor cannot be read, so the file is opened again. It must be the
        // one checked: a rename in between is rejected rather than followed.
        Descriptor file(openat(directory.fd.get(), name.c_str(),
                               O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        struct stat opened {};
        if (file.get() < 0 || fstat(file.get(), &opened) != 0) throw cannot_open(entry_path);
        if (opened.st_dev != status.st_dev || opened.st_ino != status.st_ino) {
            throw PolicyError(entry_path, 0, "",
                              "the policy file was replaced while it was being checked; apply "
                              "it again once nothing renames it");
        }
        return read_all(file.get(), entry_path);
    }
    throw PolicyError(path, 0, "", "the policy path is not a regular file");
}

}  // namespace pw::policy
