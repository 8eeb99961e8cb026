#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "fleet/nats_connection.h"
#include "fleet/search_gathering.h"
#include "fleet/search_messages.h"
#include "store/store_reader.h"

namespace pw::fleet {

struct FleetSearchResult {
    std::vector<AgentAnswer> agents;  // sorted by device
    // The server reported that no one subscribes to the search subject: no agent runs.
    bool no_listener = false;
};

// Publishes one search request and gathers the replies of every agent until each known
// agent finished or `timeout` passed (scatter-gather). Agents are known from the presence
// bucket and from their replies. `on_event` receives each event as its chunk arrives, with
// its device set. Throws NatsError when the server rejects the request (a permissions
// violation) or the connection fails.
FleetSearchResult fleet_search(NatsConnection& connection, const NatsSettings& settings,
                               const SearchRequest& request, std::chrono::milliseconds timeout,
                               const std::function<void(store::StoredEvent&)>& on_event);

}  // namespace pw::fleet
