#include "events/audit_event.h"

#include <stdexcept>

namespace pw::events {

nlohmann::ordered_json changes_to_json(const std::vector<AuditChange>& changes) {
    nlohmann::ordered_json array = nlohmann::ordered_json::array();
    for (const AuditChange& change : changes) {
        nlohmann::ordered_json item;
        item["key"] = change.key;
        item["old"] = change.old_value;
        item["new"] = change.new_value;
        array.push_back(item);
    }
    return array;
}

std::vector<AuditChange> changes_from_json(const nlohmann::json& array) {
    if (!array.is_array()) throw std::invalid_argument("audit changes are not a JSON array");
    std::vector<AuditChange> changes;
    for (const nlohmann::json& item : array) {
        if (!item.is_object() || !item.value("key", nlohmann::json()).is_string() ||
            !item.value("old", nlohmann::json()).is_string() ||
            !item.value("new", nlohmann::json()).is_string()) {
            throw std::invalid_argument("audit change is not a {key, old, new} object of "
                                        "strings: " + item.dump());
        }
        changes.push_back({item["key"], item["old"], item["new"]});
    }
    return changes;
}

nlohmann::ordered_json to_json(const AuditEvent& event) {
    nlohmann::ordered_json object;
    object["type_id"] = kPolicyChangeEventTypeId;
    object["time"] = event.time_ms;
    object["action"] = event.action;
    nlohmann::ordered_json actor;
    actor["uid"] = event.actor_uid;
    actor["user"] = event.actor_user;
    if (event.actor_pid != 0) actor["pid"] = event.actor_pid;
    object["actor"] = actor;
    if (!event.source.empty()) object["source"] = event.source;
    if (!event.device.empty()) object["device"] = event.device;
    object["changes"] = changes_to_json(event.changes);
    return object;
}

}  // namespace pw::events
