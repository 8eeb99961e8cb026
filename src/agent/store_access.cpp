#include "agent/store_access.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include "common/directories.h"
#include "control/peer.h"
#include "store/event_store.h"
#include "store/schema.h"

namespace pw::agent {
namespace {

constexpr mode_t kStoreMode = 0640;

void restrict_file(const std::string& path, gid_t group, bool create,
                   const char* label = "event store") {
    int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
    int fd = open(path.c_str(), flags, kStoreMode);
    if (fd < 0) {
        if (errno != ENOENT || create) {
            spdlog::warn("{} {}: cannot restrict its access: {}", label, path,
                         std::strerror(errno));
        }
        return;
    }
    // A device or pipe given as the path (/dev/stdout, say) keeps its owner and mode.
    struct stat info {};
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(fd);
        return;
    }
    if (fchown(fd, static_cast<uid_t>(-1), group) != 0 || fchmod(fd, kStoreMode) != 0) {
        spdlog::warn("{} {}: cannot give it to the reader group: {}", label, path,
                     std::strerror(errno));
    }
    close(fd);
}

// Throws when the file at `path` exists and belongs to a user other than root and the agent's
// own: that user could change the events the agent records there, or read them. A link is
// checked and so is the file it leads to, which SQLite opens, and so is the directory that
// contains it. The message suggests `option` for another path.
void check_store_owner(const std::string& path, const char* option = "--store") {
    struct stat link {};
    struct stat target {};
    for (const struct stat* info : {lstat(path.c_str(), &link) == 0 ? &link : nullptr,
                                     stat(path.c_str(), &target) == 0 ? &target : nullptr}) {
        if (info == nullptr || info->st_uid == 0 || info->st_uid == geteuid()) continue;
        control::PeerCredentials owner = control::resolve_user(info->st_uid, info->st_gid);
        throw store::StoreError(fmt::format(
            "{} belongs to user {}, who could change the events the agent records there; run "
            "`chown root {}` or pass {} with another path",
            path, owner.user, path, option));
    }
    // The owner of the directory may rename or replace the file whatever its mode.
    std::filesystem::path directory = std::filesystem::path(path).parent_path();
    if (directory.empty()) directory = ".";
    struct stat parent {};
    if (stat(directory.c_str(), &parent) == 0 && parent.st_uid != 0 && parent.st_uid != geteuid()) {
        control::PeerCredentials owner = control::resolve_user(parent.st_uid, parent.st_gid);
        throw store::StoreError(fmt::format(
            "the directory {} of {} belongs to user {}, who could replace the file and the "
            "events the agent records there; pass {} with a path in a directory of root",
            directory.string(), path, owner.user, option));
    }
}

}  // namespace

void restrict_store_access(const std::string& store_path, const std::string& reader_group) {
    // Before anything changes, so that a file that is not an event store keeps its group and
    // mode and gains no -wal and -shm files.
    store::check_store_file(store_path);
    for (const char* suffix : {"", "-wal", "-shm"}) check_store_owner(store_path + suffix);
    std::optional<gid_t> gid = control::find_group(reader_group);
    if (!gid) {
        spdlog::warn(
            "event store {}: reader group {} does not exist, so the store keeps its "
            "group and only root reads it; create the group with `groupadd {}`",
            store_path, reader_group, reader_group);
    }
    gid_t group = gid.value_or(static_cast<gid_t>(-1));
    // Directories made here let the reader group through to the store, which the agent's
    // umask (027) would otherwise keep from it.
    std::filesystem::path parent = std::filesystem::path(store_path).parent_path();
    if (!parent.empty() && !create_directories_with(parent, 0750, group)) {
        spdlog::warn("event store {}: cannot create its directory {}: {}", store_path,
                     parent.string(), std::strerror(errno));
    }
    restrict_file(store_path, group, true);
    // SQLite gives the -wal and -shm files it creates the store's group only while the
    // process may change a file's group, which the agent gives up with its capabilities.
    // Made here, empty, they keep the group: SQLite reuses both.
    restrict_file(store_path + "-wal", group, true);
    restrict_file(store_path + "-shm", group, true);
}

void restrict_events_file_access(const std::string& path, const std::string& reader_group) {
    if (path.empty() || path == "-") return;
    // Before its mode changes: another user's file in a shared directory stays theirs.
    check_store_owner(path, "--json");
    std::optional<gid_t> gid = control::find_group(reader_group);
    restrict_file(path, gid.value_or(static_cast<gid_t>(-1)), true, "--json file");
}

}  // namespace pw::agent
