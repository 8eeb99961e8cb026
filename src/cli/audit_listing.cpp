#include "cli/audit_listing.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "query/literals.h"

namespace pw::cli {

void add_audit_filters(const std::vector<std::string>& arguments, store::AuditQuery& query) {
    // Terms may come as separate arguments or in one quoted argument, split at spaces.
    std::vector<std::string> words;
    for (const std::string& argument : arguments) {
        std::istringstream stream(argument);
        for (std::string word; stream >> word;) words.push_back(word);
    }
    constexpr std::string_view kActions[] = {"apply",   "reload",        "enable",
                                             "disable", "protocols_add", "protocols_remove"};
    for (const std::string& word : words) {
        if (word == "and" || word == "AND") continue;
        size_t equals = word.find('=');
        std::string field = word.substr(0, equals);
        std::string value = equals == std::string::npos ? "" : word.substr(equals + 1);
        std::string* target = field == "user"     ? &query.user
                              : field == "action" ? &query.action
                              : field == "key"    ? &query.key
                                                  : nullptr;
        if (equals == std::string::npos || target == nullptr || value.empty()) {
            throw std::invalid_argument(fmt::format(
                "invalid audit query term '{}'; with --audit use user=NAME, action=NAME or "
                "key=TABLE.KEY (action is apply, reload, enable, disable, protocols_add or "
                "protocols_remove)",
                word));
        }
        if (field == "action" && std::find(std::begin(kActions), std::end(kActions), value) ==
                                     std::end(kActions)) {
            throw std::invalid_argument(fmt::format(
                "unknown audit action '{}'; use apply, reload, enable, disable, protocols_add "
                "or protocols_remove",
                value));
        }
        if (!target->empty()) {
            throw std::invalid_argument(fmt::format(
                "the audit query gives {} twice ('{}' and '{}'); give each of user, action and "
                "key at most once",
                field, *target, value));
        }
        *target = value;
    }
}

void print_audit_events(const std::vector<store::StoredAuditEvent>& events, bool table,
                        std::ostream& out) {
    for (const store::StoredAuditEvent& stored : events) {
        const events::AuditEvent& event = stored.event;
        if (!table) {
            nlohmann::ordered_json object = events::to_json(event);
            object["event_uid"] = stored.event_uid;
            out << object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
            continue;
        }
        for (const events::AuditChange& change : event.changes) {
            out << fmt::format("{}  {:<12} {:<18} {}: {} -> {}\n",
                               query::format_time(event.time_ms),
                               fmt::format("{}({})", event.actor_user, event.actor_uid),
                               event.action, change.key, change.old_value, change.new_value);
        }
    }
}

}  // namespace pw::cli
