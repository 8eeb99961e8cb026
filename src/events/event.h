#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "detect/protocols.h"

namespace pw::events {

// The class of every event protowatch writes: a network event.
inline constexpr int kNetworkEventTypeId = 8007;

// The event's activity within a connection (the `id` field).
enum class Activity : uint8_t { kConnect = 1, kDisconnect = 2, kStatistics = 3 };

enum class Direction : uint8_t { kUnknown = 0, kInbound = 1, kOutbound = 2 };

// The reason a connection ended (the disconnect event's `reason`).
enum class EndReason : uint8_t { kNone, kFin, kRst, kTimeout, kEndOfInput, kEvicted };

// The activity's name: connect, disconnect or statistics.
const char* activity_name(Activity activity);
const char* end_reason_name(EndReason reason);
std::optional<EndReason> parse_end_reason(std::string_view name);

// The local process that owns a connection, when the agent could attribute it.
struct Process {
    int64_t pid = 0;
    std::string name;
    std::string executable;
    std::string command_line;
    int64_t uid = -1;
    std::string user;
    // The reason the connection could not be attributed, empty when it was.
    std::string unattributed_reason;

    // True when a process was found: an unattributed connection has no pid, name,
    // executable or command line, and a uid only when its socket's owner was known.
    bool attributed() const { return unattributed_reason.empty(); }
};

struct Event {
    Activity activity = Activity::kConnect;
    int64_t time_ms = 0;  // ms since the epoch, from packet timestamps
    uint8_t ip_protocol = 0;
    std::string source_ip;  // the initiator
    uint16_t source_port = 0;
    std::string target_ip;  // the responder
    uint16_t target_port = 0;
    Direction direction = Direction::kUnknown;
    std::string connection_uid;
    std::string device;  // host name of the machine that recorded the event

    // Disconnect events only.
    EndReason reason = EndReason::kNone;

    // Statistics events only. In and out are relative to the device; when the direction
    // is unknown the source counts as the device.
    std::vector<ProtocolId> protocols;
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint64_t packets_in = 0;
    uint64_t packets_out = 0;
    int64_t start_time_ms = 0;
    int64_t end_time_ms = 0;
    // True when capture drops or a mid-stream start mean part of the connection was missed.
    bool partial = false;

    std::optional<Process> process;
};

// A consumer of events: the JSON writer, the store, the NATS publisher.
class EventSink {
public:
    virtual ~EventSink() = default;
    virtual void write(const Event& event) = 0;
    // Makes every event written so far durable or visible; called at the end of the input
    // and periodically.
    virtual void flush() {}
};

}  // namespace pw::events
