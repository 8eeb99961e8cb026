#include "events/json.h"

#include <stdexcept>
#include <string_view>
#include <type_traits>
#include <utility>

namespace pw::events {
namespace {

constexpr const char* kEndReasonNames[] = {"", "fin", "rst", "timeout", "end_of_input",
                                           "evicted"};

// Converts one field's value. Integer fields take only JSON integers within the type's
// range: converting a larger or fractional number, such as 1e40 into a uint64_t, is
// undefined behavior in C++.
template <class T>
T convert(const nlohmann::json& value, const char* field) {
    auto wrong_type = [&] {
        return std::invalid_argument(std::string("event field '") + field +
                                     "' has the wrong type: " + value.dump());
    };
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        if (!value.is_number_integer()) throw wrong_type();
        bool in_range = value.is_number_unsigned()
                            ? std::in_range<T>(value.get<uint64_t>())
                            : std::in_range<T>(value.get<int64_t>());
        if (!in_range) {
            throw std::invalid_argument(std::string("event field '") + field +
                                        "' is out of range: " + value.dump());
        }
        return static_cast<T>(value.is_number_unsigned() ? value.get<uint64_t>()
                                                         : value.get<int64_t>());
    } else {
        try {
            return value.get<T>();
        } catch (const nlohmann::json::exception&) {
            throw wrong_type();
        }
    }
}

template <class T>
T required(const nlohmann::json& object, const char* field) {
    auto it = object.find(field);
    if (it == object.end()) {
        throw std::invalid_argument(std::string("event field '") + field + "' is missing");
    }
    return convert<T>(*it, field);
}

template <class T>
T optional_field(const nlohmann::json& object, const char* field, T fallback) {
    auto it = object.find(field);
    if (it == object.end() || it->is_null()) return fallback;
    return convert<T>(*it, field);
}

}  // namespace

const char* activity_name(Activity activity) {
    switch (activity) {
        case Activity::kConnect:
            return "connect";
        case Activity::kDisconnect:
            return "disconnect";
        case Activity::kStatistics:
            return "statistics";
    }
    return "unknown";
}

const char* end_reason_name(EndReason reason) {
    return kEndReasonNames[static_cast<size_t>(reason)];
}

std::optional<EndReason> parse_end_reason(std::string_view name) {
    for (size_t i = 1; i < std::size(kEndReasonNames); ++i) {
        if (name == kEndReasonNames[i]) return static_cast<EndReason>(i);
    }
    return std::nullopt;
}

nlohmann::ordered_json to_json(const Event& event) {
    nlohmann::ordered_json object = {
        {"type_id", kNetworkEventTypeId},
        {"id", static_cast<int>(event.activity)},
        {"time", event.time_ms},
        {"ip_protocol", event.ip_protocol},
        {"source_ip", event.source_ip},
        {"source_port", event.source_port},
        {"target_ip", event.target_ip},
        {"target_port", event.target_port},
        {"direction_id", static_cast<int>(event.direction)},
        {"connection_uid", event.connection_uid},
    };
    if (!event.device.empty()) object["device"] = event.device;
    if (event.activity == Activity::kDisconnect) {
        object["reason"] = end_reason_name(event.reason);
    }
    if (event.activity == Activity::kStatistics) {
        nlohmann::ordered_json protocols = nlohmann::ordered_json::array();
        for (ProtocolId id : event.protocols) {
            protocols.push_back({{"id", static_cast<int>(id)}, {"name", protocol_name(id)}});
        }
        object["protocols"] = std::move(protocols);
        object["bytes_in"] = event.bytes_in;
        object["bytes_out"] = event.bytes_out;
        object["packets_in"] = event.packets_in;
        object["packets_out"] = event.packets_out;
        object["start_time"] = event.start_time_ms;
        object["end_time"] = event.end_time_ms;
        object["duration_ms"] = event.end_time_ms - event.start_time_ms;
        if (event.partial) object["partial"] = true;
    }
    if (event.process) {
        const Process& p = *event.process;
        nlohmann::ordered_json process;
        if (p.attributed()) {
            process = {{"pid", p.pid},         {"name", p.name},
                       {"executable", p.executable}, {"command_line", p.command_line},
                       {"uid", p.uid},         {"user", p.user}};
        } else {
            // Fields of a process that was not found would read as pid 0, a real pid.
            if (p.uid >= 0) {
                process["uid"] = p.uid;
                process["user"] = p.user;
            }
            process["unattributed_reason"] = p.unattributed_reason;
        }
        object["process"] = std::move(process);
    }
    return object;
}

Event from_json(const nlohmann::json& object) {
    if (!object.is_object()) throw std::invalid_argument("event is not a JSON object");
    if (required<int>(object, "type_id") != kNetworkEventTypeId) {
        throw std::invalid_argument("event field 'type_id' is not 8007");
    }
    Event event;
    int activity = required<int>(object, "id");
    if (activity < 1 || activity > 3) {
        throw std::invalid_argument("event field 'id' must be 1, 2 or 3, not " +
                                    std::to_string(activity));
    }
    event.activity = static_cast<Activity>(activity);
    event.time_ms = required<int64_t>(object, "time");
    event.ip_protocol = required<uint8_t>(object, "ip_protocol");
    event.source_ip = required<std::string>(object, "source_ip");
    event.source_port = optional_field<uint16_t>(object, "source_port", 0);
    event.target_ip = required<std::string>(object, "target_ip");
    event.target_port = optional_field<uint16_t>(object, "target_port", 0);
    int direction = optional_field<int>(object, "direction_id", 0);
    if (direction < 0 || direction > 2) {
        throw std::invalid_argument("event field 'direction_id' must be 0, 1 or 2");
    }
    event.direction = static_cast<Direction>(direction);
    event.connection_uid = optional_field<std::string>(object, "connection_uid", "");
    event.device = optional_field<std::string>(object, "device", "");
    if (auto reason = object.find("reason"); reason != object.end() && reason->is_string()) {
        event.reason = parse_end_reason(reason->get<std::string>()).value_or(EndReason::kNone);
    }
    if (auto protocols = object.find("protocols"); protocols != object.end()) {
        if (!protocols->is_array()) {
            throw std::invalid_argument("event field 'protocols' is not an array");
        }
        for (const auto& entry : *protocols) {
            event.protocols.push_back(static_cast<ProtocolId>(required<uint16_t>(entry, "id")));
        }
    }
    event.bytes_in = optional_field<uint64_t>(object, "bytes_in", 0);
    event.bytes_out = optional_field<uint64_t>(object, "bytes_out", 0);
    event.packets_in = optional_field<uint64_t>(object, "packets_in", 0);
    event.packets_out = optional_field<uint64_t>(object, "packets_out", 0);
    event.start_time_ms = optional_field<int64_t>(object, "start_time", 0);
    event.end_time_ms = optional_field<int64_t>(object, "end_time", 0);
    event.partial = optional_field<bool>(object, "partial", false);
    if (auto process = object.find("process"); process != object.end() && process->is_object()) {
        Process p;
        p.pid = optional_field<int64_t>(*process, "pid", 0);
        p.name = optional_field<std::string>(*process, "name", "");
        p.executable = optional_field<std::string>(*process, "executable", "");
        p.command_line = optional_field<std::string>(*process, "command_line", "");
        p.uid = optional_field<int64_t>(*process, "uid", -1);
        p.user = optional_field<std::string>(*process, "user", "");
        p.unattributed_reason = optional_field<std::string>(*process, "unattributed_reason", "");
        event.process = std::move(p);
    }
    return event;
}

std::string to_json_line(const Event& event) {
    // Process names, command lines and device names come from the system and need not be
    // UTF-8; invalid bytes become U+FFFD instead of failing the whole event.
    return to_json(event).dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

bool nests_deeper_than(std::string_view text, int limit) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return false;
}

}  // namespace pw::events
