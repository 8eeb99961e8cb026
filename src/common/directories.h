#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

namespace pw {

// Creates `directory` and its missing parents, each with `mode` whatever the umask, and
// gives each one it creates the group `group` unless that is -1. Directories that exist
// keep their owner and mode. Returns false when one cannot be created or given the group,
// with errno set.
inline bool create_directories_with(const std::filesystem::path& directory, mode_t mode,
                                    gid_t group) {
    std::filesystem::path prefix;
    for (const std::filesystem::path& part : directory) {
        prefix /= part;
        std::error_code error;
        if (std::filesystem::exists(prefix, error)) continue;
        if (mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return false;
        chmod(prefix.c_str(), mode);
        if (group != static_cast<gid_t>(-1)) {
            if (chown(prefix.c_str(), static_cast<uid_t>(-1), group) != 0) return false;
        }
    }
    return true;
}

}  // namespace pw
