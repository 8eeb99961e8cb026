#include "store/store_reader.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <limits>

#include "store/ip_address.h"
#include "store/schema.h"

namespace pw::store {
namespace {

constexpr const char* kColumns =
    "events.id, event_uid, stored_at, time, activity_id, ip_protocol, source_ip, source_port, "
    "target_ip, target_port, direction_id, connection_uid, device, reason, bytes_in, bytes_out, "
    "packets_in, packets_out, start_time, end_time, partial, process_pid, process_name, "
    "process_executable, process_command_line, process_uid, process_user, "
    "process_unattributed_reason";

// The session lookups: by connection_uid with the index on (connection_uid, time), and for
// events without one by the index on (target_addr, target_port, time). The text columns keep
// endpoints whose address did not parse apart from each other.
// A session's events are stored in order, so its connect is the last match stored before
// the statistics event (?11, its id) and its disconnect the first after: ?13 is -1 for a
// connect and 1 for a disconnect. A capture analyzed twice into one store then pairs each
// copy's events with each other.
constexpr const char* kSessionByUid =
    "connection_uid = ?1 AND time BETWEEN ?2 AND ?3 AND activity_id = ?4 AND device IS ?5 AND "
    "ip_protocol = ?6 AND source_ip = ?7 AND source_port = ?8 AND target_ip = ?9 AND "
    "target_port = ?10 AND (events.id - ?11) * ?13 > 0 ORDER BY events.id * ?13 LIMIT 1";
constexpr const char* kSessionByEndpoints =
    "target_addr IS ?12 AND target_port = ?10 AND time BETWEEN ?2 AND ?3 AND target_ip = ?9 AND "
    "source_ip = ?7 AND source_port = ?8 AND ip_protocol = ?6 AND activity_id = ?4 AND "
    "device IS ?5 AND coalesce(connection_uid, '') = '' AND (events.id - ?11) * ?13 > 0 "
    "ORDER BY events.id * ?13 LIMIT 1";

void read_row(const Statement& row, StoredEvent& out) {
    out.sequence = row.column_int(0);
    out.event_uid = row.column_text(1);
    out.stored_at_ms = row.column_int(2);
    events::Event& e = out.event;
    e = events::Event{};
    e.time_ms = row.column_int(3);
    e.activity = static_cast<events::Activity>(row.column_int(4));
    e.ip_protocol = static_cast<uint8_t>(row.column_int(5));
    e.source_ip = row.column_text(6);
    e.source_port = static_cast<uint16_t>(row.column_int(7));
    e.target_ip = row.column_text(8);
    e.target_port = static_cast<uint16_t>(row.column_int(9));
    e.direction = static_cast<events::Direction>(row.column_int(10));
    e.connection_uid = row.column_text(11);
    e.device = row.column_text(12);
    if (!row.is_null(13)) {
        e.reason = events::parse_end_reason(row.column_text(13)).value_or(events::EndReason::kNone);
    }
    e.bytes_in = static_cast<uint64_t>(row.column_int(14));
    e.bytes_out = static_cast<uint64_t>(row.column_int(15));
    e.packets_in = static_cast<uint64_t>(row.column_int(16));
    e.packets_out = static_cast<uint64_t>(row.column_int(17));
    e.start_time_ms = row.column_int(18);
    e.end_time_ms = row.column_int(19);
    e.partial = row.column_int(20) != 0;
    // An unattributed connection has only its reason, and the uid when it was known.
    if (!row.is_null(21) || !row.is_null(27)) {
        events::Process& p = e.process.emplace();
        p.pid = row.is_null(21) ? 0 : row.column_int(21);
        p.name = row.column_text(22);
        p.executable = row.column_text(23);
        p.command_line = row.column_text(24);
        p.uid = row.is_null(25) ? -1 : row.column_int(25);
        p.user = row.column_text(26);
        p.unattributed_reason = row.column_text(27);
    }
}

void read_protocols(Statement& protocols, StoredEvent& out) {
    protocols.reset();
    protocols.bind(1, out.sequence);
    while (protocols.step()) {
        out.event.protocols.push_back(static_cast<ProtocolId>(protocols.column_int(0)));
    }
}

// SQLite reports a -wal or -shm file that a read-only connection needed and could not create
// as one of these, at the first read.
bool may_be_missing_wal_file(const SqliteError& error) {
    return error.primary_code() == SQLITE_READONLY || error.primary_code() == SQLITE_CANTOPEN;
}

Database open_checked(const std::string& path, bool immutable) {
    Database db =
        immutable ? Database::open_immutable(path) : Database::open(path, SQLITE_OPEN_READONLY);
    configure_connection(db);
    check_schema_for_reading(db);
    return db;
}

// SQLite opens a WAL database read-only only when its -wal and -shm files exist or the reader
// may create them. Without commits in a -wal file the database file contains the whole store, so
// an immutable connection reads it exactly. A writer keeps both files while it has the store
// open, so a missing one also means that no writer has it open.
// NOTE: an immutable connection takes no lock. A writer that starts during the read and
// checkpoints into the file can make the read fail as damage, or miss rows.
Database open_for_reading(const std::string& path) {
    try {
        return open_checked(path, false);
    } catch (const SqliteError& error) {
        if (!may_be_missing_wal_file(error) || wal_may_hold_commits(path)) throw;
    }
    return open_checked(path, true);
}

// Returns the directory of `path`, or "." for a bare file name.
std::string directory_of(const std::string& path) {
    std::string directory = std::filesystem::path(path).parent_path().string();
    return directory.empty() ? "." : directory;
}

StoreError describe_open_failure(const std::string& path, const SqliteError& error) {
    if (error.primary_code() == SQLITE_NOTADB || error.primary_code() == SQLITE_CORRUPT) {
        return StoreError(fmt::format(
            "{} is not an event store or is damaged ({}); pass --store with the path of an "
            "event store",
            path, error.what()));
    }
    return describe_read_failure(path, error);
}

}  // namespace

StoreError describe_read_failure(const std::string& path, const SqliteError& error) {
    if (error.primary_code() == SQLITE_NOTADB || error.primary_code() == SQLITE_CORRUPT) {
        return StoreError(fmt::format(
            "event store {} is damaged ({}), so reading stopped there; move it aside so that "
            "a new store starts at that path, or pass --store with the path of another event "
            "store",
            path, error.what()));
    }
    if (may_be_missing_wal_file(error)) {
        return StoreError(fmt::format(
            "cannot read the event store {} ({}): reading needs its -wal and -shm files, or "
            "write access to {} to create them; ask an admin to run `protowatch dump --store "
            "{} --limit 1` as root once, which creates them, or copy the store and its -wal "
            "file to a directory you can write and read the copy",
            path, error.what(), directory_of(path), path));
    }
    return StoreError(fmt::format("cannot read the event store {}: {}", path, error.what()));
}

int bind_parameters(Statement& statement, const query::SqlFilter& filter, int first) {
    int index = first;
    for (const auto& parameter : filter.parameters) {
        if (const auto* number = std::get_if<int64_t>(&parameter)) {
            statement.bind(index, *number);
        } else if (const auto* text = std::get_if<std::string>(&parameter)) {
            statement.bind(index, std::string_view(*text));
        } else {
            statement.bind(index,
                           std::span<const uint8_t>(std::get<std::vector<uint8_t>>(parameter)));
        }
        ++index;
    }
    return index;
}

bool EventCursor::next(StoredEvent& out) {
    try {
        if (!rows_.step()) return false;
        read_row(rows_, out);
        if (out.event.activity == events::Activity::kStatistics) read_protocols(*protocols_, out);
        return true;
    } catch (const SqliteError& error) {
        throw describe_read_failure(path_, error);
    }
}

StoreReader StoreReader::open(const std::string& path) {
    std::error_code error;
    bool exists = std::filesystem::exists(path, error);
    bool unreadable = exists && access(path.c_str(), R_OK) != 0 && errno == EACCES;
    if (error == std::errc::permission_denied || unreadable) {
        throw StoreError(fmt::format(
            "permission denied: cannot read the event store {}; the agent's store is readable "
            "by root and by the members of its reader group (access.reader_group in the "
            "policy, protowatch-reader by default), so ask an admin to add you to it",
            path));
    }
    if (!exists) {
        throw StoreError(fmt::format(
            "no event store at {} (the file does not exist); record events with `protowatch "
            "analyze`, or pass --store with the path of an event store",
            path));
    }
    if (std::filesystem::is_directory(path, error)) {
        throw StoreError(fmt::format(
            "{} is a directory, not an event store; pass --store with the path of an event "
            "store file",
            path));
    }
    // Opening a pipe would wait for a writer, and SQLite reads a device as an empty database.
    if (!std::filesystem::is_regular_file(path, error)) {
        throw StoreError(fmt::format(
            "{} is not a regular file (a pipe, socket or device), not an event store; pass "
            "--store with the path of an event store file",
            path));
    }
    try {
        return StoreReader(open_for_reading(path));
    } catch (const SqliteError& failure) {
        throw describe_open_failure(path, failure);
    }
}

StoreReader::StoreReader(Database db)
    : db_(std::move(db)),
      protocols_(db_.prepare(
          "SELECT protocol_id FROM event_protocols WHERE event_id = ? ORDER BY position")) {}

EventCursor StoreReader::select(const query::SqlFilter& filter, uint64_t limit) {
    std::string sql = fmt::format("SELECT {} FROM events WHERE {} ORDER BY time, events.id",
                                  kColumns, filter.where);
    if (limit > 0) sql += " LIMIT ?";
    Statement rows = db_.prepare(sql);
    int next = bind_parameters(rows, filter);
    if (limit > 0) rows.bind(next, static_cast<int64_t>(limit));
    return EventCursor(std::move(rows), &protocols_, db_.path());
}

EventCursor StoreReader::select_after(int64_t sequence, uint64_t limit) {
    std::string sql =
        fmt::format("SELECT {} FROM events WHERE events.id > ? ORDER BY events.id", kColumns);
    if (limit > 0) sql += " LIMIT ?";
    Statement rows = db_.prepare(sql);
    rows.bind(1, sequence);
    if (limit > 0) rows.bind(2, static_cast<int64_t>(limit));
    return EventCursor(std::move(rows), &protocols_, db_.path());
}

int64_t StoreReader::last_sequence() {
    return db_.query_int("SELECT coalesce(max(id), 0) FROM events");
}

std::optional<StoredEvent> StoreReader::find_session_event(const events::Event& statistics,
                                                           int64_t statistics_sequence,
                                                           events::Activity activity) {
    const bool by_uid = !statistics.connection_uid.empty();
    std::optional<Statement>& prepared = by_uid ? session_by_uid_ : session_by_endpoints_;
    if (!prepared) {
        prepared = db_.prepare(fmt::format("SELECT {} FROM events WHERE {}", kColumns,
                                           by_uid ? kSessionByUid : kSessionByEndpoints));
    }
    Statement& lookup = *prepared;
    lookup.reset();
    int64_t from = statistics.start_time_ms;
    int64_t to = statistics.end_time_ms;
    if (by_uid) {
        if (activity == events::Activity::kConnect) {
            to = std::max(statistics.time_ms, statistics.end_time_ms);
        } else {
            from = statistics.end_time_ms;
            to = std::numeric_limits<int64_t>::max();
        }
        lookup.bind(1, std::string_view(statistics.connection_uid));
    }
    lookup.bind(2, from);
    lookup.bind(3, to);
    lookup.bind(4, int64_t{static_cast<int>(activity)});
    if (!statistics.device.empty()) lookup.bind(5, std::string_view(statistics.device));
    lookup.bind(6, int64_t{statistics.ip_protocol});
    lookup.bind(7, std::string_view(statistics.source_ip));
    lookup.bind(8, int64_t{statistics.source_port});
    lookup.bind(9, std::string_view(statistics.target_ip));
    lookup.bind(10, int64_t{statistics.target_port});
    lookup.bind(11, statistics_sequence);
    lookup.bind(13, int64_t{activity == events::Activity::kConnect ? -1 : 1});
    if (!by_uid) {
        if (auto address = parse_address(statistics.target_ip)) {
            lookup.bind(12, std::span<const uint8_t>(*address));
        }
    }
    try {
        if (!lookup.step()) return std::nullopt;
    } catch (const SqliteError& error) {
        throw describe_read_failure(path(), error);
    }
    StoredEvent found;
    read_row(lookup, found);
    return found;
}

}  // namespace pw::store
