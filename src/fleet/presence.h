#pragma once

#include <nats/nats.h>

#include <chrono>
#include <string>
#include <vector>

#include "fleet/nats_settings.h"

namespace pw::fleet {

// How long an agent that stopped announcing itself (a crash, a partition) still counts as
// part of the fleet, so that a search lists it among the agents that did not answer. Only
// the agent that creates the presence bucket sets it.
inline constexpr std::chrono::hours kPresenceLifetime{1};

// One agent's entry in the presence bucket.
struct PresentAgent {
    std::string device;
    // The agent found its key written by another agent at two heartbeats in a row: two
    // agents announce themselves with this device name.
    bool shared_name = false;
};

// The agents' presence, kept in a JetStream key-value bucket (presence_bucket()): one key per
// agent, written again every heartbeat and deleted when the agent stops cleanly. The value
// is a JSON object with the device name and, while the agent finds its key written by
// another agent, `"shared_name": true`.
class Presence {
  public:
    Presence(natsConnection* connection, const NatsSettings& settings);
    ~Presence();
    Presence(const Presence&) = delete;
    Presence& operator=(const Presence&) = delete;

    // Writes the agent's key, creating the bucket when missing. Warns when another agent
    // wrote the key since this one last did, at two heartbeats in a row: two agents with
    // one device name. Returns false after logging why when JetStream is unreachable or the
    // bucket is gone; the next heartbeat opens the bucket again.
    bool announce(const std::string& device);
    // Deletes the agent's key; returns false when JetStream is unreachable.
    bool withdraw(const std::string& device);
    // Every present agent; empty when the bucket does not exist. Throws NatsError when
    // JetStream is unreachable.
    std::vector<PresentAgent> list();

  private:
    bool open_bucket(bool create);

    natsConnection* connection_;
    const NatsSettings& settings_;
    jsCtx* jetstream_ = nullptr;
    kvStore* bucket_ = nullptr;
    uint64_t revision_ = 0;  // of this agent's last write of its key, 0 before the first
    uint64_t changed_ = 0;   // heartbeats in a row that found the key changed by another
    // A warning of another agent with this device name repeats every this many heartbeats.
    static constexpr uint64_t kWarnEvery = 20;
};

}  // namespace pw::fleet
