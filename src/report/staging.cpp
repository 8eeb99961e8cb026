#include "report/staging.h"

#include <fmt/format.h>

#include "detect/protocols.h"
#include "store/store_reader.h"

namespace pw::report {
namespace {

constexpr const char* kProtocolTable = R"sql(
DROP TABLE IF EXISTS temp.report_protocols;
CREATE TEMP TABLE report_protocols (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind INTEGER NOT NULL
);
)sql";

// The application protocol is the first protocol, in detection order, of the lowest kind
// below kTransferContent, so a TLS connection that negotiated HTTP/2 counts as TLS and an
// h2c connection, whose only protocol may be HTTP2, as HTTP2.
constexpr std::string_view kConnections = R"sql(
CREATE TEMP TABLE report_connections AS
SELECT e.id, e.device, e.connection_uid, e.start_time, e.end_time,
       e.bytes_in, e.bytes_out, e.packets_in, e.packets_out, e.ip_protocol,
       e.source_ip, e.source_port, e.target_ip, e.target_port, e.direction_id,
       CASE e.direction_id WHEN 1 THEN e.source_ip ELSE e.target_ip END AS remote_ip,
       e.process_name, e.process_pid, e.partial,
       coalesce((SELECT p.protocol_id FROM event_protocols p
                 JOIN report_protocols n ON n.id = p.protocol_id
                 WHERE p.event_id = e.id AND n.kind < 2
                 ORDER BY n.kind, p.position LIMIT 1), 0) AS protocol
FROM events e
WHERE e.id IN (SELECT max(events.id) FROM events
               WHERE activity_id = 3 AND ({})
               GROUP BY device, connection_uid)
)sql";

void fill_protocol_table(store::Database& db) {
    db.execute(kProtocolTable);
    store::Statement insert =
        db.prepare("INSERT INTO report_protocols (id, name, kind) VALUES (?, ?, ?)");
    for (const ProtocolInfo& info : protocol_table()) {
        insert.reset();
        insert.bind(1, int64_t{static_cast<uint16_t>(info.id)});
        insert.bind(2, info.name);
        insert.bind(3, int64_t{static_cast<int>(protocol_kind(info.id))});
        insert.step();
    }
}

}  // namespace

ProtocolKind protocol_kind(ProtocolId id) {
    if (is_transfer_content(id)) return ProtocolKind::kTransferContent;
    if (is_content_type(id)) return ProtocolKind::kFeature;
    return ProtocolKind::kApplication;
}

void stage_connections(store::Database& db, const query::SqlFilter& filter) {
    fill_protocol_table(db);
    db.execute("DROP TABLE IF EXISTS temp.report_connections");
    store::Statement create = db.prepare(fmt::format(kConnections, filter.where));
    store::bind_parameters(create, filter);
    create.step();
}

}  // namespace pw::report
