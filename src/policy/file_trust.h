#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pw::policy {

// The user on whose behalf the agent reads a policy file. The agent itself can read any
// file (it runs as root or keeps CAP_DAC_READ_SEARCH), and a rejected file's message
// quotes its lines, so a file that a user names is read only if that user could read it.
// Root (uid 0) may name any file.
struct ReadingUser {
    int64_t uid = 0;
    std::vector<gid_t> groups;  // the primary group and the supplementary ones
    std::string user;           // for messages
};

// Reads a policy file that only admins can have written, so that a user who may not change
// the policy cannot change it by editing a file an admin later applies. The file is rejected
// when it is not a regular file. It is also rejected when it, a directory on the way to it or
// a symbolic link followed on the way is owned by a user that is neither root nor in
// `admin_group`. So is a file or directory writable by a group other than root's and
// `admin_group`, or by everyone (except a sticky directory other than the file's own). And
// so is a file that `reader` could not reach and read by the permission bits.
//
// The path is resolved one component at a time, each opened relative to the directory
// before it, and every check is made on what was opened. So a link retargeted or a directory
// renamed meanwhile cannot make the agent read a file other than the one checked.
// Throws PolicyError naming the path at fault and what to do.
// NOTE: access control lists are not consulted: an ACL that grants the reader more than
// the bits is not seen, and one that denies the reader what the bits grant is not either.
std::string read_trusted_policy_file(const std::string& path, const std::string& admin_group,
                                     const ReadingUser& reader = {});

}  // namespace pw::policy
