#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store_reader.h"

namespace pw::fleet {

// What one agent returned for a fleet search.
struct AgentAnswer {
    std::string device;
    bool accepted = false;  // it sent "accepted"
    bool done = false;      // it sent "done" and every event it counted arrived
    uint64_t chunks = 0;    // chunks taken, which is the index the next chunk must have
    uint64_t received = 0;
    std::string error;  // its "error" reply, or what was wrong with its answer
    // Its presence value carries the mark of another agent with its device name, so its
    // events may come from either agent.
    bool shared_name = false;
    std::vector<std::string> warnings;
};

// The requester's side of one fleet search: takes the replies of every agent as they arrive
// and tells which agents are still expected. Any bytes may arrive as a reply, because every
// user allowed to publish to inboxes can send one, so a malformed reply is logged and
// dropped, and an agent whose answer is inconsistent is marked failed.
class SearchGathering {
  public:
    // `present` lists the agents expected to answer. `on_event` receives each event with its
    // device set.
    SearchGathering(const std::vector<std::string>& present,
                    std::function<void(store::StoredEvent&)> on_event);

    // Marks the events of `device` as possibly another agent's (PresentAgent::shared_name).
    void mark_shared_name(const std::string& device) { agent(device).shared_name = true; }

    // Takes one reply. Returns the index of a chunk to acknowledge, or nothing.
    std::optional<uint64_t> handle(std::string_view text);

    // Whether every known agent sent "done" or failed; false while no agent is known.
    bool finished() const;

    // The answers, sorted by device.
    std::vector<AgentAnswer> answers() const;

  private:
    AgentAnswer& agent(const std::string& device);

    std::function<void(store::StoredEvent&)> on_event_;
    std::map<std::string, AgentAnswer> agents_;
};

}  // namespace pw::fleet
