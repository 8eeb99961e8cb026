#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "events/event.h"

namespace pw::events {

// Converts an event to its JSON object, fields in schema order (docs/events.md).
nlohmann::ordered_json to_json(const Event& event);

// Parses an event from its JSON object. Throws std::invalid_argument naming the field at
// fault when a required field is missing or of the wrong type.
Event from_json(const nlohmann::json& object);

// One line of JSON Lines, without the newline.
std::string to_json_line(const Event& event);

}  // namespace pw::events
