#include "fleet/search_messages.h"

#include <stdexcept>

namespace pw::fleet {
namespace {

constexpr const char* kTypeNames[] = {"accepted", "chunk", "done", "error"};

nlohmann::ordered_json parse_object(std::string_view text, const char* what) {
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

SearchReply decode_reply(std::string_view text) {
    nlohmann::ordered_json object = parse_object(text, "the search reply");
    SearchReply reply;
    std::string type = object.value("type", "");
    bool known = false;
    for (int i = 0; i < 4; ++i) {
        if (type == kTypeNames[i]) {
            reply.type = static_cast<ReplyType>(i);
            known = true;
        }
    }
    if (!known) throw std::invalid_argument("the search reply has an unknown type '" + type + "'");
    reply.device = object.value("device", "");
    if (reply.type == ReplyType::kChunk) {
        reply.index = optional_count(object, "index", 0);
        reply.events = object.value("events", nlohmann::ordered_json::array());
        if (!reply.events.is_array()) {
            throw std::invalid_argument("the chunk's 'events' is not an array");
        }
    } else if (reply.type == ReplyType::kDone) {
        reply.count = optional_count(object, "count", 0);
        for (const auto& warning : object.value("warnings", nlohmann::ordered_json::array())) {
            if (warning.is_string()) reply.notes.push_back(warning.get<std::string>());
        }
    } else if (reply.type == ReplyType::kError) {
        reply.notes.push_back(object.value("error", "unknown error"));
    }
    return reply;
}

}  // namespace pw::fleet
