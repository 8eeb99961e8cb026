#pragma once

#include <span>
#include <string_view>

namespace pw::query {

// The type of a field, which decides how its values are written and compared.
enum class FieldType {
    kInteger,     // decimal integer
    kPort,        // decimal integer from 0 to 65535
    kCount,       // decimal integer from 0 (a count, a pid or a uid)
    kBytes,       // integer with an optional size suffix (1MB, 4KiB)
    kTime,        // ISO 8601, relative (-1h) or milliseconds since the epoch
    kText,        // compared as written; ~ is a case-sensitive glob
    kAddress,     // IPv4 or IPv6 address or CIDR network
    kProtocol,    // name from the protocol table, or its numeric id
    kDirection,   // inbound, outbound, unknown (or 1, 2, 0)
    kActivity,    // connect, disconnect, statistics (or 1, 2, 3)
    kIpProtocol,  // tcp, udp, icmp, icmpv6, sctp, or the IANA number
    kBoolean,     // true or false
};

struct Field {
    std::string_view name;
    FieldType type;
    // SQL expression over the events table; fixed text of this table, never query text.
    std::string_view column;
    // For kAddress, the text column that ~ matches against.
    std::string_view text_column = {};
};

// Every field of the search language: the event's JSON field names (nested process fields
// as process.NAME) and the short forms protocol, process, pid, uid, user, direction.
std::span<const Field> fields();

const Field* find_field(std::string_view name);

}  // namespace pw::query
