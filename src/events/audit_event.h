#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pw::events {

// The class of an audit event: a change of the running policy (docs/events.md).
inline constexpr int kPolicyChangeEventTypeId = 8008;

// One changed policy key, both values in their TOML form.
struct AuditChange {
    std::string key;  // "recording.enabled"
    std::string old_value;
    std::string new_value;

    bool operator==(const AuditChange&) const = default;
};

// An accepted change of the running policy: who made it, when, and each key it changed.
struct AuditEvent {
    int64_t time_ms = 0;  // ms since the epoch, by the system clock
    // apply, reload, enable, disable, protocols_add or protocols_remove.
    std::string action;
    int64_t actor_uid = -1;
    std::string actor_user;
    int64_t actor_pid = 0;  // 0 when unknown
    // The policy file the change came from; empty for a change sent over the control socket.
    std::string source;
    std::string device;  // host name of the machine, empty for none
    std::vector<AuditChange> changes;

    bool operator==(const AuditEvent&) const = default;
};

// The event's JSON object, fields in the order docs/events.md lists them.
nlohmann::ordered_json to_json(const AuditEvent& event);

// The `changes` array alone, as the store keeps it.
nlohmann::ordered_json changes_to_json(const std::vector<AuditChange>& changes);
// Throws std::invalid_argument when `array` is not an array of {key, old, new} objects.
std::vector<AuditChange> changes_from_json(const nlohmann::json& array);

}  // namespace pw::events
