#include "fleet/search_messages.h"

#include <stdexcept>

#include "events/json.h"

namespace pw::fleet {
namespace {

constexpr const char* kTypeNames[] = {"accepted", "chunk", "done", "error"};

// Deeper than any message of fleet search (a chunk holds events that hold arrays of objects).
// nlohmann::json parses any depth but copies and converts values recursively, so a deeply
// nested array in a message would overflow the stack of whoever copies it.
constexpr int kMaxNesting = 32;

nlohmann::ordered_json parse_object(std::string_view text, const char* what) {
    if (events::nests_deeper_than(text, kMaxNesting)) {
        throw std::invalid_argument(std::string(what) + " nests arrays or objects deeper than " +
                                    std::to_string(kMaxNesting) + " levels");
    }
    nlohmann::ordered_json object = nlohmann::ordered_json::parse(text, nullptr, false);
    if (!object.is_object()) {
        throw std::invalid_argument(std::string(what) + " is not a JSON object");
    }
    return object;
}

uint64_t optional_count(const nlohmann::ordered_json& object, const char* field,
                        uint64_t fallback) {
    auto found = object.find(field);
    if (found == object.end()) return fallback;
    if (!found->is_number_unsigned()) {
        throw std::invalid_argument(std::string("field '") + field +
                                    "' is not a non-negative integer");
    }
    return found->get<uint64_t>();
}

// The string `field` of `object`, or `fallback` when it is absent.
std::string optional_string(const nlohmann::ordered_json& object, const char* field,
                            const std::string& fallback) {
    auto found = object.find(field);
    if (found == object.end()) return fallback;
    if (!found->is_string()) {
        throw std::invalid_argument(std::string("field '") + field + "' is not a string");
    }
    return found->get<std::string>();
}

}  // namespace

std::string encode_request(const SearchRequest& request) {
    nlohmann::json object = {{"query", request.query},
                             {"limit", request.limit},
                             {"chunk_events", request.chunk_events},
                             {"window", request.window}};
    return object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

SearchRequest decode_request(std::string_view text) {
    nlohmann::ordered_json object = parse_object(text, "the search request");
    SearchRequest request;
    auto query = object.find("query");
    if (query == object.end() || !query->is_string()) {
        throw std::invalid_argument("the search request has no 'query' string");
    }
    request.query = query->get<std::string>();
    request.limit = optional_count(object, "limit", request.limit);
    request.chunk_events = optional_count(object, "chunk_events", request.chunk_events);
    request.window = optional_count(object, "window", request.window);
    if (request.chunk_events == 0 || request.window == 0) {
        throw std::invalid_argument("'chunk_events' and 'window' must be at least 1");
    }
    return request;
}

std::string encode_reply(const SearchReply& reply) {
    nlohmann::ordered_json object = {{"type", kTypeNames[static_cast<int>(reply.type)]},
                                     {"device", reply.device}};
    switch (reply.type) {
        case ReplyType::kAccepted:
            break;
        case ReplyType::kChunk:
            object["index"] = reply.index;
            object["events"] = reply.events;
            break;
        case ReplyType::kDone:
            object["count"] = reply.count;
            object["warnings"] = reply.notes;
            break;
        case ReplyType::kError:
            object["error"] = reply.notes.empty() ? std::string() : reply.notes.front();
            break;
    }
    return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string encode_chunk(const std::string& device, uint64_t index,
                         const std::vector<std::string>& event_texts) {
    SearchReply head;
    head.type = ReplyType::kChunk;
    head.device = device;
    head.index = index;
    head.events = nlohmann::ordered_json::array();
    // The head ends with "events":[]}; the events go between the brackets.
    std::string text = encode_reply(head);
    text.resize(text.size() - 2);
    for (size_t i = 0; i < event_texts.size(); ++i) {
        if (i > 0) text += ',';
        text += event_texts[i];
    }
    text += "]}";
    return text;
}

SearchReply decode_reply(std::string_view text) {
    nlohmann::ordered_json object = parse_object(text, "the search reply");
    SearchReply reply;
    std::string type = optional_string(object, "type", "");
    bool known = false;
    for (int i = 0; i < 4; ++i) {
        if (type == kTypeNames[i]) {
            reply.type = static_cast<ReplyType>(i);
            known = true;
        }
    }
    if (!known) {
        // The type comes from the network and goes into a log, so only its start is kept.
        throw std::invalid_argument("the search reply has an unknown type '" + type.substr(0, 40) +
                                    "'");
    }
    reply.device = optional_string(object, "device", "");
    if (reply.type == ReplyType::kChunk) {
        reply.index = optional_count(object, "index", 0);
        auto events = object.find("events");
        reply.events = events == object.end() ? nlohmann::ordered_json::array() : *events;
        if (!reply.events.is_array()) {
            throw std::invalid_argument("the chunk's 'events' is not an array");
        }
    } else if (reply.type == ReplyType::kDone) {
        reply.count = optional_count(object, "count", 0);
        auto warnings = object.find("warnings");
        if (warnings != object.end() && warnings->is_array()) {
            for (const auto& warning : *warnings) {
                if (warning.is_string()) reply.notes.push_back(warning.get<std::string>());
            }
        }
    } else if (reply.type == ReplyType::kError) {
        std::string error = optional_string(object, "error", "");
        reply.notes.push_back(error.empty() ? "an error it did not describe" : error);
    }
    return reply;
}

}  // namespace pw::fleet
