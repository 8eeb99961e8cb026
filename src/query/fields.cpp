#include "query/fields.h"

#include <array>

namespace pw::query {
namespace {

using enum FieldType;

constexpr std::array<Field, 38> kFields{{
    {"type_id", kInteger, "8007"},
    {"id", kActivity, "activity_id"},
    {"activity", kActivity, "activity_id"},
    {"time", kTime, "time"},
    {"ip_protocol", kIpProtocol, "ip_protocol"},
    {"source_ip", kAddress, "source_addr", "source_ip"},
    {"source_port", kPort, "source_port"},
    {"target_ip", kAddress, "target_addr", "target_ip"},
    {"target_port", kPort, "target_port"},
    {"direction_id", kDirection, "direction_id"},
    {"direction", kDirection, "direction_id"},
    {"connection_uid", kText, "connection_uid"},
    {"device", kText, "device"},
    {"reason", kText, "reason"},
    {"protocol", kProtocol, ""},
    {"protocols", kProtocol, ""},
    {"bytes_in", kBytes, "bytes_in"},
    {"bytes_out", kBytes, "bytes_out"},
    {"packets_in", kCount, "packets_in"},
    {"packets_out", kCount, "packets_out"},
    {"start_time", kTime, "start_time"},
    {"end_time", kTime, "end_time"},
    {"duration_ms", kCount, "(end_time - start_time)"},
    {"partial", kBoolean, "partial"},
    {"process.pid", kCount, "process_pid"},
    {"pid", kCount, "process_pid"},
    {"process.name", kText, "process_name"},
    {"process", kText, "process_name"},
    {"process.executable", kText, "process_executable"},
    {"process.command_line", kText, "process_command_line"},
    {"process.uid", kCount, "process_uid"},
    {"uid", kCount, "process_uid"},
    {"process.user", kText, "process_user"},
    {"user", kText, "process_user"},
    {"process.unattributed_reason", kText, "process_unattributed_reason"},
    {"event_uid", kText, "event_uid"},
    {"stored_at", kTime, "stored_at"},
    {"sequence", kCount, "events.id"},
}};

}  // namespace

std::span<const Field> fields() { return kFields; }

const Field* find_field(std::string_view name) {
    for (const Field& field : kFields) {
        if (field.name == name) return &field;
    }
    return nullptr;
}

}  // namespace pw::query
