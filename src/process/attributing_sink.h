#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "events/event.h"
#include "process/attributor.h"

namespace pw::process {

// An event sink that adds `process` to every event of a connection and passes the events on.
// The owner is looked up once, at the connect event, which the pipeline emits on the
// connection's first packet: the earliest time its socket can be found.
class AttributingSink : public events::EventSink {
public:
    AttributingSink(ProcessAttributor& attributor, std::vector<events::EventSink*> next);

    void write(const events::Event& event) override;
    void flush() override;

    // The process of an open connection, by connection_uid.
    const events::Process* process_of(const std::string& connection_uid) const;

private:
    ProcessAttributor& attributor_;
    std::vector<events::EventSink*> next_;
    std::unordered_map<std::string, events::Process> open_;
};

// Parses the addresses of an event back into a connection; nothing when they are invalid.
std::optional<Connection> connection_of(const events::Event& event);

}  // namespace pw::process
