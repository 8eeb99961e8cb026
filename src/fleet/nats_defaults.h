#pragma once

#include <cstdint>

// The defaults of the fleet settings, which the policy's [nats] table and the --nats-*
// options share, so that the agent and `analyze --publish` use one stream.
namespace pw::fleet {

// The server used when no server is configured. It stays on loopback so that an agent
// without settings never sends events to another host.
inline constexpr const char* kDefaultServer = "nats://127.0.0.1:4222";
inline constexpr const char* kDefaultStream = "PROTOWATCH_EVENTS";
inline constexpr const char* kDefaultSubjectPrefix = "protowatch";
inline constexpr int kDefaultReplicas = 1;
inline constexpr int64_t kDefaultMaxAgeMs = 30 * 86'400'000LL;  // 30 days

}  // namespace pw::fleet
