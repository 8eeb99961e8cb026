#include "fleet/search_gathering.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "events/json.h"
#include "fleet/search_messages.h"

namespace pw::fleet {

SearchGathering::SearchGathering(const std::vector<std::string>& present,
                                 std::function<void(store::StoredEvent&)> on_event)
    : on_event_(std::move(on_event)) {
    for (const std::string& device : present) agent(device);
}

std::optional<uint64_t> SearchGathering::handle(std::string_view text) {
    SearchReply reply;
    try {
        reply = decode_reply(text);
    } catch (const std::invalid_argument& error) {
        spdlog::warn("ignoring an invalid search reply: {}", error.what());
        return std::nullopt;
    }
    AgentAnswer& answer = agent(reply.device);
    const bool accepted_before = answer.accepted;
    answer.accepted = true;
    // After a failure, nothing more of this agent counts.
    if (!answer.error.empty()) return std::nullopt;

    switch (reply.type) {
        case ReplyType::kAccepted:
            // Each agent accepts once, first: a second acceptance is a second agent.
            if (accepted_before) {
                answer.done = false;
                answer.error = fmt::format(
                    "two agents answer as device '{}', so their results cannot be told apart; "
                    "give each its own --device or device setting (the default, the host name, "
                    "is the same on cloned machines)",
                    reply.device);
            }
            return std::nullopt;
        case ReplyType::kChunk:
            break;
        case ReplyType::kDone:
            answer.warnings = reply.notes;
            if (reply.count == answer.received) {
                answer.done = true;
            } else {
                answer.error = fmt::format("sent {} of the {} events it counted", answer.received,
                                           reply.count);
            }
            return std::nullopt;
        case ReplyType::kError:
            answer.error = reply.notes.front();
            return std::nullopt;
    }

    // A chunk. One agent's messages arrive in the order it sent them, so an index other than
    // the next one is a repeated or lost chunk.
    if (answer.done || reply.index != answer.chunks) {
        answer.done = false;
        answer.error =
            fmt::format("sent chunk {} where chunk {} was expected", reply.index, answer.chunks);
        return std::nullopt;
    }
    ++answer.chunks;
    for (const auto& object : reply.events) {
        store::StoredEvent stored;
        try {
            stored.event = events::from_json(nlohmann::json(object));
            stored.event_uid = object.value("event_uid", "");
        } catch (const std::exception& error) {
            answer.error = fmt::format("sent an invalid event: {}", error.what());
            return std::nullopt;
        }
        if (stored.event.device.empty()) stored.event.device = answer.device;
        ++answer.received;
        on_event_(stored);
    }
    return reply.index;
}

bool SearchGathering::finished() const {
    if (agents_.empty()) return false;
    return std::all_of(agents_.begin(), agents_.end(), [](const auto& entry) {
        return entry.second.done || !entry.second.error.empty();
    });
}

std::vector<AgentAnswer> SearchGathering::answers() const {
    std::vector<AgentAnswer> answers;
    for (const auto& entry : agents_) answers.push_back(entry.second);
    return answers;
}

AgentAnswer& SearchGathering::agent(const std::string& device) {
    AgentAnswer& answer = agents_[device];
    answer.device = device;
    return answer;
}

}  // namespace pw::fleet
