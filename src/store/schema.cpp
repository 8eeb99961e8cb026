#include "store/schema.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>

namespace pw::store {
namespace {

// Milliseconds a connection waits for a lock held by another connection before failing.
constexpr int kBusyTimeoutMs = 10'000;

// Version 1: one row per event, the protocols of statistics events in a child table.
// Columns that the event's JSON leaves out for its activity are NULL (bytes_* of a connect
// event, reason of a statistics event, process_* of an unattributed connection).
constexpr const char* kVersion1 = R"sql(
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_uid TEXT NOT NULL UNIQUE,
    stored_at INTEGER NOT NULL,
    time INTEGER NOT NULL,
    activity_id INTEGER NOT NULL,
    ip_protocol INTEGER NOT NULL,
    source_ip TEXT NOT NULL,
    source_addr BLOB,
    source_port INTEGER NOT NULL,
    target_ip TEXT NOT NULL,
    target_addr BLOB,
    target_port INTEGER NOT NULL,
    direction_id INTEGER NOT NULL,
    connection_uid TEXT NOT NULL,
    device TEXT,
    reason TEXT,
    bytes_in INTEGER,
    bytes_out INTEGER,
    packets_in INTEGER,
    packets_out INTEGER,
    start_time INTEGER,
    end_time INTEGER,
    partial INTEGER,
    process_pid INTEGER,
    process_name TEXT,
    process_executable TEXT,
    process_command_line TEXT,
    process_uid INTEGER,
    process_user TEXT,
    process_unattributed_reason TEXT
);
CREATE TABLE event_protocols (
    event_id INTEGER NOT NULL REFERENCES events(id),
    protocol_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (event_id, protocol_id)
) WITHOUT ROWID;
CREATE INDEX event_protocols_by_protocol ON event_protocols(protocol_id, event_id);
CREATE INDEX events_by_time ON events(time);
CREATE INDEX events_by_pid ON events(process_pid, time);
CREATE INDEX events_by_process ON events(process_name, time);
CREATE INDEX events_by_connection ON events(connection_uid, time);
CREATE INDEX events_by_source ON events(source_addr, source_port);
CREATE INDEX events_by_target ON events(target_addr, target_port, time);
CREATE INDEX events_by_target_port ON events(target_port);
)sql";

// Version 2: the audit trail of policy changes, kept apart from the network events because
// retention never deletes it. `changes` is the JSON array of the event's changes.
constexpr const char* kVersion2 = R"sql(
CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_uid TEXT NOT NULL UNIQUE,
    stored_at INTEGER NOT NULL,
    time INTEGER NOT NULL,
    action TEXT NOT NULL,
    actor_uid INTEGER NOT NULL,
    actor_user TEXT NOT NULL,
    actor_pid INTEGER,
    source TEXT,
    device TEXT,
    changes TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events(time);
)sql";

// Version 3: the publish cursor of each JetStream stream, the sequence (events.id) up to
// which JetStream acknowledged every event. IF NOT EXISTS lets this step run again
// unchanged when another migration is numbered before it.
constexpr const char* kVersion3PublishCursors = R"sql(
CREATE TABLE IF NOT EXISTS publish_cursors (
    stream TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
)sql";

// Migration i brings the store from version i to version i + 1.
constexpr std::array<const char*, kSchemaVersion> kMigrations = {kVersion1, kVersion2,
                                                                 kVersion3PublishCursors};

int64_t user_table_count(Database& db) {
    return db.query_int(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
}

void reject_foreign_database(Database& db, int64_t version) {
    if (version < 0) {
        throw StoreError(fmt::format(
            "{} has the schema version {}, which protowatch never writes (another program "
            "changed the file); pass --store with another path",
            db.path(), version));
    }
    if (version == 0 && user_table_count(db) > 0) {
        throw StoreError(fmt::format(
            "{} is an SQLite database of another program (it has tables but no protowatch "
            "schema version); pass --store with another path",
            db.path()));
    }
    if (version > kSchemaVersion) {
        throw StoreError(fmt::format(
            "event store {} has schema version {}, newer than version {} that this protowatch "
            "supports; upgrade protowatch or pass --store with another path",
            db.path(), version, kSchemaVersion));
    }
}

}  // namespace

void configure_connection(Database& db) {
    check(db.handle(), sqlite3_busy_timeout(db.handle(), kBusyTimeoutMs),
          "failed to set the busy timeout");
}

void keep_wal_files(Database& db) {
    int persist_wal = 1;
    sqlite3_file_control(db.handle(), "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
}

int64_t writable_schema_version(Database& db) {
    int64_t version = db.query_int("PRAGMA user_version");
    reject_foreign_database(db, version);
    // The schema has no triggers, and one that another program added could delete or change
    // what is written while every insert reports success.
    std::string trigger = db.query_text(
        "SELECT coalesce((SELECT name FROM sqlite_schema WHERE type = 'trigger' LIMIT 1), '')");
    if (!trigger.empty()) {
        throw StoreError(fmt::format(
            "event store {} has a trigger '{}' that protowatch did not create; drop it with "
            "SQLite's DROP TRIGGER, or pass --store with another path",
            db.path(), trigger));
    }
    return version;
}

void migrate(Database& db) {
    // Checked before the settings below, since the switch to WAL rewrites the file's header
    // and creates the -wal and -shm files.
    int64_t version = writable_schema_version(db);
    // auto_vacuum can only change before the first table exists; incremental mode lets
    // retention hand freed pages back to the file system.
    if (db.query_int("PRAGMA page_count") == 0) db.execute("PRAGMA auto_vacuum = INCREMENTAL");
    std::string mode = db.query_text("PRAGMA journal_mode = WAL");
    if (mode != "wal") {
        throw StoreError(fmt::format(
            "event store {} could not switch to WAL mode (journal mode is '{}'); put the store "
            "on a local file system with --store",
            db.path(), mode));
    }
    // In WAL mode NORMAL keeps every commit across a crash of the process. Only a power loss
    // or an operating system crash can roll back the last commits.
    db.execute("PRAGMA synchronous = NORMAL");
    // After a checkpoint, shrink a WAL that a long reader let grow back to this size.
    db.execute("PRAGMA journal_size_limit = 8388608");

    for (int64_t next = version; next < kSchemaVersion; ++next) {
        db.execute("BEGIN IMMEDIATE");
        try {
            // Another writer may have migrated between the read above and this lock.
            if (db.query_int("PRAGMA user_version") == next) {
                db.execute(kMigrations[static_cast<size_t>(next)]);
                db.execute(fmt::format("PRAGMA user_version = {}", next + 1).c_str());
            }
            db.execute("COMMIT");
        } catch (...) {
            sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
        spdlog::debug("event store {}: migrated to schema version {}", db.path(), next + 1);
    }
}

void check_schema_for_reading(Database& db) {
    int64_t version = db.query_int("PRAGMA user_version");
    reject_foreign_database(db, version);
    if (version == 0) {
        throw StoreError(fmt::format(
            "{} holds no events yet (it has no tables); an agent that records to it creates "
            "them with its first events, as does `protowatch analyze --store {}`",
            db.path(), db.path()));
    }
    if (version < kMinReadableSchemaVersion) {
        throw StoreError(fmt::format(
            "event store {} has the older schema version {}; run `protowatch analyze --store "
            "{}` once to migrate it to version {}",
            db.path(), version, db.path(), kSchemaVersion));
    }
}

}  // namespace pw::store
