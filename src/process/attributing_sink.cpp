#include "process/attributing_sink.h"

#include <arpa/inet.h>

namespace pw::process {
namespace {

bool parse_address(const std::string& text, decode::IpAddress& address) {
    uint8_t bytes[16];
    if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
        address = decode::IpAddress::v4(bytes);
        return true;
    }
    if (inet_pton(AF_INET6, text.c_str(), bytes) == 1) {
        address = decode::IpAddress::v6(bytes);
        return true;
    }
    return false;
}

}  // namespace

std::optional<Connection> connection_of(const events::Event& event) {
    Connection connection;
    connection.ip_protocol = event.ip_protocol;
    connection.source_port = event.source_port;
    connection.target_port = event.target_port;
    if (!parse_address(event.source_ip, connection.source) ||
        !parse_address(event.target_ip, connection.target)) {
        return std::nullopt;
    }
    return connection;
}

AttributingSink::AttributingSink(ProcessAttributor& attributor,
                                 std::vector<events::EventSink*> next)
    : attributor_(attributor), next_(std::move(next)) {}

void AttributingSink::write(const events::Event& event) {
    events::Event attributed = event;
    auto found = open_.find(event.connection_uid);
    if (found == open_.end()) {
        // Normally the connect event; a statistics or disconnect event without one only
        // when the connect was emitted before this sink existed.
        events::Process process;
        if (auto connection = connection_of(event)) {
            process = attributor_.attribute(*connection);
        } else {
            process.unattributed_reason = "the connection's addresses are not IP addresses";
        }
        found = open_.emplace(event.connection_uid, std::move(process)).first;
    }
    attributed.process = found->second;
    if (event.activity == events::Activity::kDisconnect) open_.erase(found);
    for (events::EventSink* sink : next_) sink->write(attributed);
}

void AttributingSink::flush() {
    for (events::EventSink* sink : next_) sink->flush();
}

const events::Process* AttributingSink::process_of(const std::string& connection_uid) const {
    auto found = open_.find(connection_uid);
    return found == open_.end() ? nullptr : &found->second;
}

}  // namespace pw::process
