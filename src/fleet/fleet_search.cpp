#include "fleet/fleet_search.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "fleet/presence.h"
#include "fleet/subjects.h"

namespace pw::fleet {
namespace {

// The longest wait for one reply, so that an asynchronous server error (a permissions
// violation) is noticed soon after it arrives.
constexpr int64_t kPollMs = 100;

}  // namespace

FleetSearchResult fleet_search(NatsConnection& connection, const NatsSettings& settings,
                               const SearchRequest& request, std::chrono::milliseconds timeout,
                               const std::function<void(store::StoredEvent&)>& on_event) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    natsConnection* nc = connection.handle();

    // 1. The agents that should answer: those present in the bucket.
    std::vector<std::string> present;
    std::vector<std::string> shared_names;
    bool fleet_known = true;
    try {
        Presence presence(nc, settings);
        for (PresentAgent& agent : presence.list()) {
            if (agent.shared_name) shared_names.push_back(agent.device);
            present.push_back(std::move(agent.device));
        }
    } catch (const NatsError& error) {
        // Without the list, the first agents to reply cannot show when the others are
        // done, so the search takes what comes until the time runs out.
        fleet_known = false;
        spdlog::warn(
            "cannot list the agents, so the search takes the answers that come "
            "within --timeout: {}",
            error.what());
    }
    SearchGathering gathering(present, on_event);
    for (const std::string& device : shared_names) gathering.mark_shared_name(device);

    // 2. One request to every agent, the replies to a private inbox.
    natsInbox* inbox = nullptr;
    check_nats(natsInbox_Create(&inbox), "failed to create an inbox");
    natsSubscription* replies = nullptr;
    natsStatus status = natsConnection_SubscribeSync(&replies, nc, inbox);
    if (status == NATS_OK) {
        // Chunks of every agent queue here; the windows bound their number.
        status = natsSubscription_SetPendingLimits(replies, -1, -1);
    }
    std::string subject = search_subject(settings.subject_prefix);
    std::string text = encode_request(request);
    if (status == NATS_OK) {
        status = natsConnection_PublishRequest(nc, subject.c_str(), inbox, text.data(),
                                               static_cast<int>(text.size()));
    }
    natsInbox_Destroy(inbox);
    if (status != NATS_OK) natsSubscription_Destroy(replies);
    check_nats(status, fmt::format("failed to publish the search request on {}", subject));

    // 3. Gather until every known agent finished or the time is up.
    bool no_listener = false;
    while ((!fleet_known || !gathering.finished()) && std::chrono::steady_clock::now() < deadline) {
        std::string rejected = connection.take_async_error();
        if (!rejected.empty()) {
            natsSubscription_Destroy(replies);
            throw NatsError(NATS_NOT_PERMITTED,
                            fmt::format("the NATS server rejected the search request on {}: {}; "
                                        "fleet search needs credentials of a user allowed to "
                                        "publish there (the admin user of docs/fleet.md)",
                                        subject, rejected));
        }
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        natsMsg* message = nullptr;
        status = natsSubscription_NextMsg(&message, replies,
                                          std::clamp<int64_t>(left.count(), 1, kPollMs));
        if (status == NATS_TIMEOUT) continue;
        // No agent subscribes to the search subject, so no reply will come.
        if (status == NATS_NO_RESPONDERS) {
            no_listener = true;
            break;
        }
        if (status != NATS_OK) {
            natsSubscription_Destroy(replies);
            check_nats(status, "failed to receive search replies");
        }
        std::optional<uint64_t> chunk = gathering.handle(std::string_view(
            natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message))));
        // The chunk's reply subject is its agent's acknowledgment inbox.
        const char* ack = natsMsg_GetReply(message);
        if (chunk && ack != nullptr && ack[0] != '\0') {
            std::string index = std::to_string(*chunk);
            natsConnection_Publish(nc, ack, index.data(), static_cast<int>(index.size()));
        }
        natsMsg_Destroy(message);
    }
    natsConnection_FlushTimeout(nc, kPollMs);
    natsSubscription_Destroy(replies);
    return FleetSearchResult{gathering.answers(), no_listener};
}

}  // namespace pw::fleet
