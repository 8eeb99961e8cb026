#include "daemon/privileges.h"

#include <fmt/format.h>
#include <grp.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace pw::daemon {
namespace {

using CapPointer = std::unique_ptr<std::remove_pointer_t<cap_t>, decltype(&cap_free)>;

[[noreturn]] void fail(const std::string& step) {
    throw std::runtime_error(
        fmt::format("dropping privileges failed at {}: {}", step, std::strerror(errno)));
}

void switch_user(const std::string& name) {
    passwd* entry = getpwnam(name.c_str());
    if (entry == nullptr) {
        throw std::runtime_error(fmt::format(
            "user {} does not exist; create it (systemd-sysusers, see docs/policy.md) or run "
            "without --user",
            name));
    }
    // Capabilities survive setuid only with keep-caps set; the permitted set is then
    // narrowed to `keep` below.
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS");
    if (setgroups(0, nullptr) != 0) fail("setgroups");
    if (setgid(entry->pw_gid) != 0) fail(fmt::format("setgid({})", entry->pw_gid));
    if (setuid(entry->pw_uid) != 0) fail(fmt::format("setuid({})", entry->pw_uid));
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fail("PR_SET_KEEPCAPS");
}

}  // namespace

std::vector<cap_value_t> agent_capabilities(bool setns) {
    std::vector<cap_value_t> caps = {CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_PTRACE,
                                     CAP_DAC_READ_SEARCH};
    if (setns) caps.push_back(CAP_SYS_ADMIN);
    return caps;
}

void drop_privileges(const PrivilegeSettings& settings) {
    auto kept = [&](cap_value_t cap) {
        return std::find(settings.keep.begin(), settings.keep.end(), cap) != settings.keep.end();
    };

    // 1. The bounding set first, while CAP_SETPCAP is still effective.
    for (cap_value_t cap = 0; cap <= CAP_LAST_CAP; ++cap) {
        if (kept(cap) || !CAP_IS_SUPPORTED(cap)) continue;
        if (cap_get_bound(cap) == 1 && cap_drop_bound(cap) != 0 && errno != EPERM) {
            fail(fmt::format("cap_drop_bound({})", cap));
        }
    }

    // 2. The user, which needs CAP_SETUID and CAP_SETGID.
    if (!settings.user.empty()) switch_user(settings.user);

    // 3. The kept capabilities only, none inheritable, none ambient.
    CapPointer caps(cap_init(), cap_free);
    if (!caps) fail("cap_init");
    std::vector<cap_value_t> keep;
    CapPointer current(cap_get_proc(), cap_free);
    for (cap_value_t cap : settings.keep) {
        cap_flag_value_t permitted = CAP_CLEAR;
        if (current && cap_get_flag(current.get(), cap, CAP_PERMITTED, &permitted) == 0 &&
            permitted == CAP_SET) {
            keep.push_back(cap);
        } else {
            spdlog::warn("capability {} is not permitted to this process, so it stays off",
                         cap_to_name(cap));
        }
    }
    if (!keep.empty()) {
        if (cap_set_flag(caps.get(), CAP_PERMITTED, static_cast<int>(keep.size()), keep.data(),
                         CAP_SET) != 0 ||
            cap_set_flag(caps.get(), CAP_EFFECTIVE, static_cast<int>(keep.size()), keep.data(),
                         CAP_SET) != 0) {
            fail("cap_set_flag");
        }
    }
    if (cap_set_proc(caps.get()) != 0) fail("cap_set_proc");
    if (CAP_AMBIENT_SUPPORTED() && cap_reset_ambient() != 0) fail("cap_reset_ambient");

    // 4. No exec can gain privileges back (setuid binaries, file capabilities).
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("PR_SET_NO_NEW_PRIVS");
    spdlog::info("privileges dropped: uid {}, capabilities {}", getuid(), current_capabilities());
}

uint64_t raise_open_file_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    if (limit.rlim_cur < limit.rlim_max) {
        const rlim_t before = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
            spdlog::warn("raising the open file limit from {} to {} failed: {}", before,
                         limit.rlim_max, std::strerror(errno));
            return before;
        }
    }
    return limit.rlim_cur;
}

bool has_effective_capability(cap_value_t capability) {
    CapPointer caps(cap_get_proc(), cap_free);
    cap_flag_value_t value = CAP_CLEAR;
    return caps && cap_get_flag(caps.get(), capability, CAP_EFFECTIVE, &value) == 0 &&
           value == CAP_SET;
}

std::string current_capabilities() {
    CapPointer caps(cap_get_proc(), cap_free);
    if (!caps) return "unknown";
    char* text = cap_to_text(caps.get(), nullptr);
    if (text == nullptr) return "unknown";
    std::string result = text;
    cap_free(text);
    return result;
}

}  // namespace pw::daemon
