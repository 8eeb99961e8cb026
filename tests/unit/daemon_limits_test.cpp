// The agent's open file limit, which sockets in every network namespace it reads use up.

#include <gtest/gtest.h>
#include <sys/resource.h>

#include "daemon/privileges.h"

namespace pw::daemon {
namespace {

TEST(OpenFileLimit, RaisedToHardLimit) {
    rlimit before{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
    const uint64_t raised = raise_open_file_limit();
    rlimit after{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
    EXPECT_EQ(after.rlim_cur, before.rlim_max);
    EXPECT_EQ(raised, after.rlim_cur);
}

}  // namespace
}  // namespace pw::daemon
