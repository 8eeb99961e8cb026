#pragma once

#include <memory>
#include <string>

#include "fleet/nats_settings.h"
#include "fleet/publisher.h"
#include "fleet/search_responder.h"
#include "policy/policy.h"

namespace pw::agent {

// The fleet settings of a policy's [nats] table, in the form the publisher and the search
// responder take.
fleet::NatsSettings fleet_settings(const policy::NatsSettings& nats);

// The agent's part in the fleet: publishes what the store records to JetStream, catching up
// from the store's cursor after an outage, and responds to fleet searches from the store.
class AgentFleet {
  public:
    // Starts both; connecting goes on in the background. Throws std::invalid_argument for
    // invalid settings.
    AgentFleet(const policy::NatsSettings& nats, const std::string& store_path,
               const std::string& device);
    ~AgentFleet();  // stops both

  private:
    std::unique_ptr<fleet::Publisher> publisher_;
    std::unique_ptr<fleet::SearchResponder> responder_;
};

}  // namespace pw::agent
