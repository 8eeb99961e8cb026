#include "policy/file_trust.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "control/peer.h"
#include "policy/policy.h"

namespace pw::policy {
namespace {

// The most a policy file may hold; a real policy is a few kilobytes.
constexpr size_t kMaxPolicyBytes = 1 << 20;

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

// Throws when `status` lets a non-admin change the entry at `path`.
void check_entry(const std::string& path, const struct stat& status, const AdminIds& ids,
                 bool allow_sticky, const std::string& admin_group) {
    const char* what = S_ISDIR(status.st_mode) ? "directory" : "file";
    if (!ids.is_admin_user(status.st_uid)) {
        control::PeerCredentials owner = control::resolve_user(status.st_uid, status.st_gid);
        throw PolicyError(path, 0, "",
                          fmt::format("the policy {} is owned by user {}, who is neither root "
                                      "nor in group {}; run `chown root {}`",
                                      what, owner.user, admin_group, path));
    }
    if ((status.st_mode & S_IWGRP) != 0 && !ids.is_admin_group(status.st_gid)) {
        throw PolicyError(path, 0, "",
                          fmt::format("the policy {} is writable by group {} (mode {}), which "
                                      "is not the admin group {}; run `chmod g-w {}`",
                                      what, status.st_gid, mode_text(status.st_mode),
                                      admin_group, path));
    }
    bool sticky = (status.st_mode & S_ISVTX) != 0;
    if ((status.st_mode & S_IWOTH) != 0 && !(allow_sticky && sticky)) {
        throw PolicyError(path, 0, "",
                          fmt::format("the policy {} is writable by every user (mode {}); run "
                                      "`chmod o-w {}` or keep the policy in /etc/protowatch",
                                      what, mode_text(status.st_mode), path));
    }
}

}  // namespace

std::string read_trusted_policy_file(const std::string& path, const std::string& admin_group) {
    char resolved[PATH_MAX];
    if (realpath(path.c_str(), resolved) == nullptr) {
        throw PolicyError(path, 0, "",
                          fmt::format("cannot open the policy file: {}; check the path",
                                      std::strerror(errno)));
    }
    AdminIds ids{control::find_group(admin_group)};

    int fd = open(resolved, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        throw PolicyError(resolved, 0, "",
                          fmt::format("cannot open the policy file: {}", std::strerror(errno)));
    }
    // The checks and the read use the same open file, so a rename in between cannot swap it.
    struct stat status {};
    std::string text;
    try {
        if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
            throw PolicyError(resolved, 0, "", "the policy path is not a regular file");
        }
        check_entry(resolved, status, ids, false, admin_group);
        std::filesystem::path directory = std::filesystem::path(resolved).parent_path();
        bool own_directory = true;
        while (true) {
            struct stat directory_status {};
            if (stat(directory.c_str(), &directory_status) != 0) {
                throw PolicyError(directory.string(), 0, "",
                                  fmt::format("cannot check the policy file's directory: {}",
                                              std::strerror(errno)));
            }
            check_entry(directory.string(), directory_status, ids, !own_directory, admin_group);
            if (directory == directory.root_path()) break;
            directory = directory.parent_path();
            own_directory = false;
        }
        if (static_cast<uint64_t>(status.st_size) > kMaxPolicyBytes) {
            throw PolicyError(resolved, 0, "",
                              fmt::format("the policy file is larger than {} bytes; a policy "
                                          "is a few keys",
                                          kMaxPolicyBytes));
        }
        char chunk[8192];
        ssize_t count;
        while ((count = read(fd, chunk, sizeof chunk)) > 0) {
            text.append(chunk, static_cast<size_t>(count));
            if (text.size() > kMaxPolicyBytes) break;
        }
        if (count < 0) {
            throw PolicyError(resolved, 0, "",
                              fmt::format("cannot read the policy file: {}", std::strerror(errno)));
        }
    } catch (...) {
        close(fd);
        throw;
    }
    close(fd);
    return text;
}

}  // namespace pw::policy
