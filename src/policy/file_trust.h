#pragma once

#include <string>

namespace pw::policy {

// Reads a policy file that only admins can have written, so that a user who may not change
// the policy cannot change it by editing a file an admin later applies. The file is rejected
// when it is not a regular file, or when it or a directory above it is owned by a user that
// is neither root nor in `admin_group`, is writable by a group other than root's and
// `admin_group`, or is writable by everyone (a sticky directory above the file's own
// directory excepted, since its other users cannot rename what they do not own).
// Symbolic links are resolved first and the resolved path is checked. Throws PolicyError
// naming the path at fault and what to do.
std::string read_trusted_policy_file(const std::string& path, const std::string& admin_group);

}  // namespace pw::policy
