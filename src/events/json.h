#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "events/event.h"

namespace pw::events {

// Converts an event to its JSON object, fields in schema order (docs/events.md).
nlohmann::ordered_json to_json(const Event& event);

// Parses an event from its JSON object. Throws std::invalid_argument naming the field at
// fault when a required field is missing or of the wrong type.
Event from_json(const nlohmann::json& object);

// One line of JSON Lines, without the newline.
std::string to_json_line(const Event& event);

// Whether the arrays and objects of the JSON `text` nest deeper than `limit` levels. Brackets
// inside strings do not count, and the text need not be valid JSON. nlohmann::json parses
// any depth but copies values recursively, so a reader of untrusted JSON checks this first:
// a copy of an array nested 100,000 levels deep overflows the stack.
bool nests_deeper_than(std::string_view text, int limit);

}  // namespace pw::events
