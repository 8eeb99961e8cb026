#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

// The messages of fleet search, as JSON objects (documented in docs/fleet.md):
// - the request, published on <prefix>.search with the requester's inbox as reply subject;
// - replies to that inbox from every agent: "accepted" at once, then "chunk" messages of
//   events, each with the agent's acknowledgment subject as its reply subject, and last
//   "done" with the count, or "error" naming what failed.
namespace pw::fleet {

struct SearchRequest {
    std::string query;
    uint64_t limit = 0;           // events per agent at most; 0 means no limit
    uint64_t chunk_events = 500;  // events per chunk message
    uint64_t window = 8;          // chunks an agent sends before it waits for an acknowledgment
};

std::string encode_request(const SearchRequest& request);
// Throws std::invalid_argument naming the field at fault.
SearchRequest decode_request(std::string_view text);

enum class ReplyType { kAccepted, kChunk, kDone, kError };

struct SearchReply {
    ReplyType type = ReplyType::kAccepted;
    std::string device;
    uint64_t index = 0;              // chunk: its position from 0
    nlohmann::ordered_json events;   // chunk: an array of stored events' JSON objects
    uint64_t count = 0;              // done: events sent in all
    std::vector<std::string> notes;  // done: query warnings; error: the message
};

std::string encode_reply(const SearchReply& reply);
// Encodes a chunk reply whose events are already JSON objects, as encode_reply encodes a
// kChunk reply with those events, without parsing them back.
std::string encode_chunk(const std::string& device, uint64_t index,
                         const std::vector<std::string>& event_texts);
// Throws std::invalid_argument naming the field at fault.
SearchReply decode_reply(std::string_view text);

}  // namespace pw::fleet
