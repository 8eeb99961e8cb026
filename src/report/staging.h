#pragma once

#include "detect/protocols.h"
#include "query/compiler.h"
#include "store/sqlite.h"

namespace pw::report {

// The report's class of a protocol of the table. A connection's application protocol is
// chosen in this order.
enum class ProtocolKind : int {
    kApplication = 0,      // the flow's application protocol (TLS, DNS, SMB2...)
    kFeature = 1,          // a feature of one (TLS_ALPN_H2, HTTP2, WEBSOCKET, ICMP_DATA...)
    kTransferContent = 2,  // what a transfer carried (IMAGE_*, FILE_*, HTML, XML...)
};

ProtocolKind protocol_kind(ProtocolId id);

// Fills the temporary tables the report's queries read:
// - report_protocols(id, name, kind): the protocol table;
// - report_connections: one row per connection, from its last statistics event that
//   matches `filter`, with `protocol` (its application protocol, 0 when none was
//   identified) and `remote_ip` (the initiator of an inbound connection, else the
//   responder).
// Replaces the tables when they exist, so the same connection can stage twice.
void stage_connections(store::Database& db, const query::SqlFilter& filter);

}  // namespace pw::report
