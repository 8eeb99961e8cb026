#include "fleet/fleet_search.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "events/json.h"
#include "fleet/presence.h"
#include "fleet/subjects.h"

namespace pw::fleet {
namespace {

// The longest wait for one reply, so that an asynchronous server error (a permissions
// violation) is noticed soon after it arrives.
constexpr int64_t kPollMs = 100;

class Gathering {
  public:
    Gathering(const std::vector<std::string>& present,
              const std::function<void(store::StoredEvent&)>& on_event)
        : on_event_(on_event) {
        for (const std::string& device : present) agent(device);
    }

    // Handles one reply; the requester acknowledges chunks through `connection`.
    void handle(natsConnection* connection, natsMsg* message) {
        SearchReply reply;
        try {
            reply = decode_reply(std::string_view(
                natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message))));
        } catch (const std::invalid_argument& error) {
            spdlog::warn("ignoring an invalid search reply: {}", error.what());
            return;
        }
        AgentAnswer& answer = agent(reply.device);
        answer.accepted = true;
        switch (reply.type) {
            case ReplyType::kAccepted:
                break;
            case ReplyType::kChunk:
                deliver(answer, reply);
                if (const char* ack = natsMsg_GetReply(message); ack != nullptr && ack[0] != '\0') {
                    std::string index = std::to_string(reply.index);
                    natsConnection_Publish(connection, ack, index.data(),
                                           static_cast<int>(index.size()));
                }
                break;
            case ReplyType::kDone:
                answer.warnings = reply.notes;
                if (reply.count == answer.received) {
                    answer.done = true;
                } else {
                    answer.error = fmt::format("sent {} of the {} events it counted",
                                               answer.received, reply.count);
                }
                break;
            case ReplyType::kError:
                answer.error = reply.notes.front();
                break;
        }
    }

    bool finished() const {
        if (agents_.empty()) return false;
        return std::all_of(agents_.begin(), agents_.end(), [](const auto& entry) {
            return entry.second.done || !entry.second.error.empty();
        });
    }

    FleetSearchResult result() const {
        FleetSearchResult result;
        for (const auto& entry : agents_) result.agents.push_back(entry.second);
        return result;
    }

  private:
    AgentAnswer& agent(const std::string& device) {
        AgentAnswer& answer = agents_[device];
        answer.device = device;
        return answer;
    }

    void deliver(AgentAnswer& answer, const SearchReply& reply) {
        for (const auto& object : reply.events) {
            store::StoredEvent stored;
            try {
                stored.event = events::from_json(nlohmann::json(object));
                stored.event_uid = object.value("event_uid", "");
            } catch (const std::exception& error) {
                answer.error = fmt::format("sent an invalid event: {}", error.what());
                continue;
            }
            if (stored.event.device.empty()) stored.event.device = answer.device;
            ++answer.received;
            on_event_(stored);
        }
    }

    const std::function<void(store::StoredEvent&)>& on_event_;
    std::map<std::string, AgentAnswer> agents_;
};

}  // namespace

std::vector<std::string> FleetSearchResult::missing() const {
    std::vector<std::string> devices;
    for (const AgentAnswer& answer : agents) {
        if (!answer.done && answer.error.empty()) devices.push_back(answer.device);
    }
    return devices;
}

FleetSearchResult fleet_search(NatsConnection& connection, const NatsSettings& settings,
                               const SearchRequest& request, std::chrono::milliseconds timeout,
                               const std::function<void(store::StoredEvent&)>& on_event) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    natsConnection* nc = connection.handle();

    // 1. The agents that should answer: those present in the bucket.
    std::vector<std::string> present;
    try {
        Presence presence(nc, settings);
        present = presence.list();
    } catch (const NatsError& error) {
        spdlog::warn("cannot list the agents, so only those that answer are known: {}",
                     error.what());
    }
    Gathering gathering(present, on_event);

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
    while (!gathering.finished() && std::chrono::steady_clock::now() < deadline) {
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
        if (status != NATS_OK) {
            natsSubscription_Destroy(replies);
            check_nats(status, "failed to receive search replies");
        }
        gathering.handle(nc, message);
        natsMsg_Destroy(message);
    }
    natsConnection_FlushTimeout(nc, kPollMs);
    natsSubscription_Destroy(replies);
    return gathering.result();
}

}  // namespace pw::fleet
