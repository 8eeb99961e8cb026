#include "control/policy_commands.h"

#include <fmt/format.h>

namespace pw::control {
namespace {

nlohmann::json protocol_names(const std::vector<ProtocolId>& ids) {
    nlohmann::json names = nlohmann::json::array();
    for (ProtocolId id : ids) names.push_back(protocol_name(id));
    return names;
}

// The reply to an accepted change, or a CommandError for a rejected one.
nlohmann::json change_reply(const policy::ChangeResult& result) {
    if (!result.error.empty()) throw CommandError(result.error);
    return {{"changes", events::changes_to_json(result.changes)}};
}

template <class T>
T required_arg(const nlohmann::json& args, const char* name, const char* expected) {
    auto it = args.find(name);
    if (it == args.end()) {
        throw CommandError(fmt::format("missing argument \"{}\" ({})", name, expected),
                           kCodeInvalid);
    }
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        throw CommandError(
            fmt::format("argument \"{}\" must be {}, not {}", name, expected, it->dump()),
            kCodeInvalid);
    }
}

std::vector<ProtocolId> parse_protocol_args(const nlohmann::json& args) {
    constexpr const char* kExpected = "an array of protocol names or ids";
    auto it = args.find("protocols");
    if (it == args.end()) {
        throw CommandError(fmt::format("missing argument \"protocols\" ({})", kExpected),
                           kCodeInvalid);
    }
    if (!it->is_array()) {
        throw CommandError(
            fmt::format("argument \"protocols\" must be {}, not {}", kExpected, it->dump()),
            kCodeInvalid);
    }
    if (it->empty()) throw CommandError("no protocol given; name at least one", kCodeInvalid);
    std::vector<ProtocolId> ids;
    for (const nlohmann::json& item : *it) {
        // A name or an id, the id as a number or as its decimal text.
        std::string text;
        if (item.is_string()) {
            text = item.get<std::string>();
        } else if (item.is_number_unsigned()) {
            text = std::to_string(item.get<uint64_t>());
        } else {
            throw CommandError(fmt::format("argument \"protocols\" must be {}, not {}",
                                           kExpected, item.dump()),
                               kCodeInvalid);
        }
        std::optional<ProtocolId> id = parse_protocol(text);
        if (!id || find_protocol(*id) == nullptr) {
            throw CommandError(fmt::format("unknown protocol '{}'; use a name or id that "
                                           "`protowatch protocols` lists",
                                           text),
                               kCodeInvalid);
        }
        ids.push_back(*id);
    }
    return ids;
}

void edit_protocols(policy::Policy& policy, const std::vector<ProtocolId>& ids, bool add) {
    std::vector<ProtocolId>& list = policy.protocols;
    for (ProtocolId id : ids) {
        auto found = std::find(list.begin(), list.end(), id);
        if (add && found == list.end()) list.push_back(id);
        if (!add && found != list.end()) list.erase(found);
    }
}

// The caller, as the user a policy file it names must be readable by: the agent, as root,
// could read any file, and a rejected file's message quotes its lines.
policy::ReadingUser reader_of(const Caller& caller) {
    return {caller.peer.uid, caller.peer.groups, caller.peer.user};
}

}  // namespace

policy::Actor actor_of(const Caller& caller) {
    return {caller.peer.uid, caller.peer.user, caller.peer.pid};
}

void register_policy_commands(ControlServer& server, policy::PolicyHolder& holder) {
    server.register_command("policy.show", Role::kReader, [&holder](auto&, auto&, auto&) {
        std::shared_ptr<const policy::Policy> policy = holder.current();
        return nlohmann::json{{"source", holder.source_path()},
                              {"recording_enabled", policy->recording_enabled},
                              {"protocols", protocol_names(policy->protocols)},
                              {"toml", policy::format_policy(*policy)}};
    });

    server.register_command(
        "policy.apply", Role::kAdmin,
        [&holder](const nlohmann::json& args, const Caller& caller, auto&) {
            auto path = required_arg<std::string>(args, "path", "the policy file's absolute path");
            if (path.find('\0') != std::string::npos) {
                throw CommandError("the policy path contains a NUL character; give the file's "
                                   "absolute path",
                                   kCodeInvalid);
            }
            if (path.empty() || path[0] != '/') {
                throw CommandError(fmt::format("policy path '{}' is not absolute", path),
                                   kCodeInvalid);
            }
            return change_reply(holder.apply_file(path, actor_of(caller), reader_of(caller)));
        });

    server.register_command("policy.reload", Role::kAdmin,
                            [&holder](auto&, const Caller& caller, auto&) {
                                return change_reply(
                                    holder.reload(actor_of(caller), reader_of(caller)));
                            });

    server.register_command(
        "policy.set_recording", Role::kAdmin,
        [&holder](const nlohmann::json& args, const Caller& caller, auto&) {
            bool enabled = required_arg<bool>(args, "enabled", "true or false");
            return change_reply(holder.update(
                enabled ? "enable" : "disable", actor_of(caller),
                [enabled](policy::Policy& policy) { policy.recording_enabled = enabled; }));
        });

    server.register_command(
        "policy.protocols", Role::kAdmin,
        [&holder](const nlohmann::json& args, const Caller& caller, auto&) {
            auto operation = required_arg<std::string>(args, "operation", "\"add\" or \"remove\"");
            if (operation != "add" && operation != "remove") {
                throw CommandError(
                    fmt::format("operation '{}' is neither \"add\" nor \"remove\"", operation),
                    kCodeInvalid);
            }
            std::vector<ProtocolId> ids = parse_protocol_args(args);
            bool add = operation == "add";
            return change_reply(
                holder.update(add ? "protocols_add" : "protocols_remove", actor_of(caller),
                              [&](policy::Policy& policy) { edit_protocols(policy, ids, add); }));
        });

    server.set_groups({holder.current()->admin_group, holder.current()->reader_group});
    holder.add_listener([&server](const policy::Policy& policy) {
        server.set_groups({policy.admin_group, policy.reader_group});
    });
}

}  // namespace pw::control
