#include "agent/agent_fleet.h"

#include <spdlog/spdlog.h>

namespace pw::agent {

fleet::NatsSettings fleet_settings(const policy::NatsSettings& nats) {
    fleet::NatsSettings settings;
    settings.servers = nats.servers;
    settings.creds_file = nats.creds_file;
    settings.nkey_seed_file = nats.nkey_seed_file;
    settings.tls_ca = nats.tls_ca;
    settings.tls_cert = nats.tls_cert;
    settings.tls_key = nats.tls_key;
    settings.stream = nats.stream;
    settings.subject_prefix = nats.subject_prefix;
    settings.replicas = nats.replicas;
    settings.max_age = std::chrono::milliseconds(nats.max_age_ms);
    fleet::validate(settings);
    return settings;
}

AgentFleet::AgentFleet(const policy::NatsSettings& nats, const std::string& store_path,
                       const std::string& device) {
    fleet::NatsSettings settings = fleet_settings(nats);
    fleet::PublisherOptions publisher_options;
    publisher_options.store_path = store_path;
    publisher_options.device = device;
    publisher_ = std::make_unique<fleet::Publisher>(settings, publisher_options);
    fleet::SearchResponderOptions responder_options;
    responder_options.store_path = store_path;
    responder_options.device = device;
    responder_ = std::make_unique<fleet::SearchResponder>(settings, responder_options);
    publisher_->start();
    responder_->start();
    spdlog::info("fleet: publishing to stream {} and answering searches as {}", settings.stream,
                 device);
}

AgentFleet::~AgentFleet() {
    responder_->stop();
    publisher_->stop();
}

}  // namespace pw::agent
