#include "store/audit_store.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <random>

#include "query/literals.h"
#include "store/event_store.h"
#include "store/store_reader.h"

namespace pw::store {
namespace {

// How long storing an audit event waits for another process's lock (SQLite's busy timeout).
constexpr int kAuditBusyTimeoutMs = 1000;

constexpr const char* kInsertAudit = R"sql(
INSERT INTO audit_events (event_uid, stored_at, time, action, actor_uid, actor_user, actor_pid,
    source, device, changes)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
)sql";

// A random UUID (version 4); audit events are rare, so their ids need no time order.
std::string random_uuid() {
    std::random_device random;
    auto draw = [&random] { return (uint64_t{random()} << 32) | random(); };
    uint64_t high = (draw() & 0xffffffffffff0fffULL) | 0x4000ULL;
    uint64_t low = (draw() & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
    return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff,
                       high & 0xffff, low >> 48, low & 0xffffffffffffULL);
}

void bind_text_or_null(Statement& statement, int index, const std::string& text) {
    if (text.empty()) {
        statement.bind_null(index);
    } else {
        statement.bind(index, text);
    }
}

bool has_audit_table(Database& db) {
    Statement lookup = db.prepare(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'audit_events'");
    lookup.step();
    return lookup.column_int(0) > 0;
}

std::vector<StoredAuditEvent> select_audit_events(Database& db, const AuditQuery& query) {
    std::vector<StoredAuditEvent> result;
    if (!has_audit_table(db)) return result;

    std::string sql =
        "SELECT id, event_uid, stored_at, time, action, actor_uid, actor_user, actor_pid, "
        "source, device, changes FROM audit_events WHERE 1";
    if (query.since_ms != 0) sql += " AND time >= ?1";
    if (query.until_ms != 0) sql += " AND time <= ?2";
    if (!query.user.empty()) sql += " AND actor_user = ?3";
    if (!query.action.empty()) sql += " AND action = ?4";
    if (!query.key.empty()) {
        sql += " AND EXISTS (SELECT 1 FROM json_each(changes) WHERE json_each.value ->> 'key' = ?5)";
    }
    sql += " ORDER BY time, id";
    if (query.limit != 0) sql += fmt::format(" LIMIT {}", query.limit);

    Statement rows = db.prepare(sql);
    if (query.since_ms != 0) rows.bind(1, query.since_ms);
    if (query.until_ms != 0) rows.bind(2, query.until_ms);
    if (!query.user.empty()) rows.bind(3, query.user);
    if (!query.action.empty()) rows.bind(4, query.action);
    if (!query.key.empty()) rows.bind(5, query.key);
    while (rows.step()) {
        StoredAuditEvent stored;
        stored.sequence = rows.column_int(0);
        stored.event_uid = rows.column_text(1);
        stored.stored_at_ms = rows.column_int(2);
        events::AuditEvent& event = stored.event;
        event.time_ms = rows.column_int(3);
        event.action = rows.column_text(4);
        event.actor_uid = rows.column_int(5);
        event.actor_user = rows.column_text(6);
        event.actor_pid = rows.is_null(7) ? 0 : rows.column_int(7);
        event.source = rows.is_null(8) ? "" : rows.column_text(8);
        event.device = rows.is_null(9) ? "" : rows.column_text(9);
        event.changes = events::changes_from_json(nlohmann::json::parse(rows.column_text(10)));
        result.push_back(std::move(stored));
    }
    return result;
}

}  // namespace

void record_audit_event(const std::string& path, const events::AuditEvent& event) {
    // Opening through EventStore creates the file and runs the migrations like any writer.
    std::unique_ptr<EventStore> store = EventStore::open(path, RetentionPolicy{});
    Database& db = store->database();
    // The caller keeps an event the store does not take and tries again later
    // (policy::AuditOutbox), so the change that it records waits for a lock only briefly.
    sqlite3_busy_timeout(db.handle(), kAuditBusyTimeoutMs);
    Statement insert = db.prepare(kInsertAudit);
    insert.bind(1, random_uuid());
    insert.bind(2, query::now_ms());
    insert.bind(3, event.time_ms);
    insert.bind(4, event.action);
    insert.bind(5, event.actor_uid);
    insert.bind(6, event.actor_user);
    if (event.actor_pid != 0) {
        insert.bind(7, event.actor_pid);
    } else {
        insert.bind_null(7);
    }
    bind_text_or_null(insert, 8, event.source);
    bind_text_or_null(insert, 9, event.device);
    insert.bind(10, events::changes_to_json(event.changes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    insert.step();
}

std::vector<StoredAuditEvent> read_audit_events(Database& db, const AuditQuery& query) {
    try {
        return select_audit_events(db, query);
    } catch (const SqliteError& error) {
        throw describe_read_failure(db.path(), error);
    }
}

}  // namespace pw::store
