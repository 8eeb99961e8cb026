#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "events/audit_event.h"
#include "store/sqlite.h"

namespace pw::store {

struct StoredAuditEvent {
    int64_t sequence = 0;
    std::string event_uid;
    int64_t stored_at_ms = 0;
    events::AuditEvent event;
};

// Which audit events to read; zero or empty means no bound.
struct AuditQuery {
    int64_t since_ms = 0;
    int64_t until_ms = 0;
    std::string user;
    std::string action;
    std::string key;  // events that changed this policy key
    uint64_t limit = 0;
};

// Appends an audit event to the store at `path`, creating and migrating it as the event
// writer does, and commits it at once. Retention never deletes audit events. Throws
// StoreError or SqliteError naming the path.
void record_audit_event(const std::string& path, const events::AuditEvent& event);

// Audit events that match `query`, oldest first. A store older than schema version 2 has none.
// Throws StoreError naming the store.
std::vector<StoredAuditEvent> read_audit_events(Database& db, const AuditQuery& query);

}  // namespace pw::store
