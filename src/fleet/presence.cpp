#include "fleet/presence.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "fleet/nats_connection.h"
#include "fleet/subjects.h"

namespace pw::fleet {
namespace {

constexpr int64_t kNanosecondsPerMs = 1'000'000;

std::string encode_presence(const std::string& device, bool shared_name) {
    nlohmann::json value = {{"device", device}};
    if (shared_name) value["shared_name"] = true;
    return value.dump();
}

// Reads a presence value. A value that is not such an object, written by something else
// than an agent, counts as a device name.
PresentAgent decode_presence(const std::string& text) {
    nlohmann::json value = nlohmann::json::parse(text, nullptr, false);
    if (!value.is_object() || !value.contains("device") || !value["device"].is_string()) {
        return {text, false};
    }
    const auto shared = value.find("shared_name");
    return {value["device"].get<std::string>(),
            shared != value.end() && shared->is_boolean() && shared->get<bool>()};
}

}  // namespace

Presence::Presence(natsConnection* connection, const NatsSettings& settings)
    : connection_(connection), settings_(settings) {
    check_nats(natsConnection_JetStream(&jetstream_, connection_, nullptr),
               "failed to create the JetStream context");
}

Presence::~Presence() {
    kvStore_Destroy(bucket_);
    jsCtx_Destroy(jetstream_);
}

bool Presence::open_bucket(bool create) {
    if (bucket_ != nullptr) return true;
    std::string name = presence_bucket(settings_.subject_prefix);
    natsStatus status = js_KeyValue(&bucket_, jetstream_, name.c_str());
    if (status == NATS_NOT_FOUND && create) {
        kvConfig config;
        kvConfig_Init(&config);
        config.Bucket = name.c_str();
        config.History = 1;
        config.TTL =
            std::chrono::duration_cast<std::chrono::milliseconds>(kPresenceLifetime).count() *
            kNanosecondsPerMs;
        config.Replicas = settings_.replicas;
        status = js_CreateKeyValue(&bucket_, jetstream_, &config);
    }
    if (status == NATS_NOT_FOUND) return false;
    if (status != NATS_OK) {
        bucket_ = nullptr;
        throw NatsError(status, fmt::format("cannot open the presence bucket {}: {}", name,
                                            last_error_text(status)));
    }
    return true;
}

bool Presence::announce(const std::string& device) {
    try {
        open_bucket(true);
        const std::string key = presence_key(device);
        // The key is updated only while its last revision is this agent's last write, so a
        // write or withdrawal by another agent since makes the update fail. The first write
        // is unconditional, because the key may be left from a run that did not stop cleanly.
        uint64_t revision = 0;
        natsStatus update = NATS_NOT_FOUND;
        if (revision_ != 0) {
            const std::string value = encode_presence(device, false);
            update =
                kvStore_UpdateString(&revision, bucket_, key.c_str(), value.c_str(), revision_);
        }
        if (update == NATS_OK) {
            revision_ = revision;
            changed_ = 0;
            return true;
        }
        // NATS_ERR means that JetStream rejected the update. A time-out or a lost connection
        // shows nothing about the key. One rejection may come from a key that was lost (a
        // server that restarted without its store), so only a second one in a row counts,
        // and warns once every kWarnEvery heartbeats while it lasts. The value then carries
        // the mark that searches report.
        changed_ = update == NATS_ERR ? changed_ + 1 : 0;
        const std::string value = encode_presence(device, changed_ >= 2);
        check_nats(kvStore_PutString(&revision, bucket_, key.c_str(), value.c_str()),
                   "failed to write the presence key");
        if (changed_ >= 2 && (changed_ - 2) % kWarnEvery == 0) {
            spdlog::warn(
                "another agent announces itself as device {}: the presence key changed at "
                "{} heartbeats in a row since this agent wrote it. Searches fail or miss "
                "events while two agents answer as one device; give each agent its own "
                "--device",
                device, changed_);
        }
        revision_ = revision;
        return true;
    } catch (const NatsError& error) {
        spdlog::warn("cannot announce agent {} in JetStream: {}", device, error.what());
        // The bucket may be gone (a server that restarted without its store): the next
        // heartbeat opens it again, and creates it if need be.
        kvStore_Destroy(bucket_);
        bucket_ = nullptr;
        revision_ = 0;
        return false;
    }
}

bool Presence::withdraw(const std::string& device) {
    try {
        if (!open_bucket(false)) return true;
        check_nats(kvStore_Delete(bucket_, presence_key(device).c_str()),
                   "failed to delete the presence key");
        return true;
    } catch (const NatsError& error) {
        spdlog::warn("cannot withdraw agent {} from JetStream: {}", device, error.what());
        return false;
    }
}

std::vector<PresentAgent> Presence::list() {
    std::vector<PresentAgent> devices;
    if (!open_bucket(false)) return devices;
    kvKeysList keys{};
    natsStatus status = kvStore_Keys(&keys, bucket_, nullptr);
    if (status == NATS_NOT_FOUND) return devices;
    check_nats(status, "failed to list the present agents");
    for (int i = 0; i < keys.Count; ++i) {
        kvEntry* entry = nullptr;
        if (kvStore_Get(&entry, bucket_, keys.Keys[i]) == NATS_OK) {
            devices.push_back(decode_presence(kvEntry_ValueString(entry)));
        }
        kvEntry_Destroy(entry);
    }
    kvKeysList_Destroy(&keys);
    return devices;
}

}  // namespace pw::fleet
