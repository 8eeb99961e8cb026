#include "store/event_store.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>

#include "query/literals.h"
#include "store/ip_address.h"

namespace pw::store {
namespace {

constexpr const char* kInsertEvent = R"sql(
INSERT INTO events (
    event_uid, stored_at, time, activity_id, ip_protocol, source_ip, source_addr, source_port,
    target_ip, target_addr, target_port, direction_id, connection_uid, device, reason, bytes_in,
    bytes_out, packets_in, packets_out, start_time, end_time, partial, process_pid,
    process_name, process_executable, process_command_line, process_uid, process_user,
    process_unattributed_reason)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
)sql";

// The page cache of the writing connection, in KiB (PRAGMA cache_size).
constexpr int kWriterCacheKiB = 16384;

// Duplicate protocol ids within one event collapse to the first.
constexpr const char* kInsertProtocol =
    "INSERT OR IGNORE INTO event_protocols (event_id, protocol_id, position) VALUES (?, ?, ?)";

void bind_address(Statement& statement, int index, const std::string& text) {
    if (auto bytes = parse_address(text)) {
        statement.bind(index, std::span<const uint8_t>(*bytes));
    } else {
        statement.bind_null(index);
    }
}

void bind_optional_text(Statement& statement, int index, const std::string& text) {
    if (text.empty()) {
        statement.bind_null(index);
    } else {
        statement.bind(index, text);
    }
}

// SQLite integers are signed 64-bit; counters past 2^63 keep their bits but sort as negative.
int64_t to_column(uint64_t value) { return static_cast<int64_t>(value); }

void bind_statistics(Statement& statement, const events::Event& event) {
    statement.bind(16, to_column(event.bytes_in));
    statement.bind(17, to_column(event.bytes_out));
    statement.bind(18, to_column(event.packets_in));
    statement.bind(19, to_column(event.packets_out));
    statement.bind(20, event.start_time_ms);
    statement.bind(21, event.end_time_ms);
    statement.bind(22, int64_t{event.partial ? 1 : 0});
}

void bind_process(Statement& statement, const events::Process& process) {
    // An unattributed connection stores NULL where a process would be, so that `pid = 0`
    // matches nothing.
    if (process.attributed()) {
        statement.bind(23, process.pid);
        statement.bind(24, process.name);
        statement.bind(25, process.executable);
        statement.bind(26, process.command_line);
    } else {
        for (int column = 23; column <= 26; ++column) statement.bind_null(column);
    }
    if (process.uid >= 0) {
        statement.bind(27, process.uid);
    } else {
        statement.bind_null(27);
    }
    bind_optional_text(statement, 28, process.user);
    bind_optional_text(statement, 29, process.unattributed_reason);
}

void create_parent_directory(const std::string& path) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    if (parent.empty()) return;
    std::error_code error;
    std::filesystem::create_directories(parent, error);
    if (error) {
        throw StoreError(fmt::format(
            "cannot create the directory {} for the event store: {}; pass --store with a "
            "writable path, or --no-store",
            parent.string(), error.message()));
    }
}

// The first 16 bytes of every SQLite database file.
constexpr std::string_view kSqliteHeader{"SQLite format 3\0", 16};

StoreError not_an_event_store(const std::string& path, std::string_view reason) {
    return StoreError(
        fmt::format("{} is not an event store or is damaged ({}); move it aside to start a new "
                    "store, or pass --store with another path",
                    path, reason));
}

bool starts_with_sqlite_header(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    std::array<char, kSqliteHeader.size()> header{};
    file.read(header.data(), header.size());
    return file.gcount() == static_cast<std::streamsize>(header.size()) &&
           std::string_view(header.data(), header.size()) == kSqliteHeader;
}

// Turns a failure to open or migrate into a message that names the path and the remedy.
StoreError describe_open_failure(const std::string& path, const SqliteError& error) {
    switch (error.primary_code()) {
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
            return not_an_event_store(path, error.what());
        case SQLITE_FULL:
            return StoreError(
                fmt::format("the disk of the event store {} is full ({}); free space on the "
                            "disk or pass --store with a path on another disk, then a lower "
                            "--store-max-size keeps the store from filling it again",
                            path, error.what()));
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
        case SQLITE_PROTOCOL:
            // SQLITE_PROTOCOL: the locks of the -shm file could not be taken, which another
            // process's lock on that file causes.
            return StoreError(fmt::format(
                "cannot open the event store {}: another process has locked it or its -shm "
                "file ({}); find that process with `fuser {} {}-shm` and stop it, or pass "
                "--store with another path",
                path, error.what(), path, path));
        default:
            return StoreError(fmt::format(
                "cannot open the event store {}: {}; check that the file and its directory are "
                "writable, pass --store with another path, or --no-store",
                path, error.what()));
    }
}

}  // namespace

// The largest store whose every page check_store_file() reads, which takes about 0.5 s from
// the page cache on the development machine (1.8 ms a MB).
// NOTE: damage inside a larger store is found only when a read reaches it.
constexpr off_t kDamageCheckMaxBytes = off_t{256} << 20;

void check_store_file(const std::string& path) {
    // 1. A missing or empty file becomes a new store.
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) return;
    if (S_ISDIR(info.st_mode)) {
        throw StoreError(fmt::format(
            "{} is a directory, not an event store; pass --store with the path of a file", path));
    }
    if (!S_ISREG(info.st_mode)) {
        throw StoreError(fmt::format(
            "{} is not a regular file (a pipe, socket or device), not an event store; pass "
            "--store with the path of a file",
            path));
    }
    if (info.st_size == 0) return;
    if (access(path.c_str(), R_OK) != 0) return;
    // A store this process has open was checked when it was opened, and reading the file
    // beside that connection would drop its locks (is_open_in_process()).
    if (is_open_in_process(path)) return;

    // 2. A file without the SQLite header, such as a text file.
    if (!starts_with_sqlite_header(path)) {
        throw not_an_event_store(path, "the file does not start with the SQLite header");
    }

    // 3. Another program's database, or a newer store. Without commits in the -wal file, an
    //    immutable connection reads the file exactly and, unlike a plain read-only one, never
    //    creates the -wal and -shm files.
    // NOTE: an immutable connection takes no lock, so a checkpoint that another writer runs
    // during the check could make the store read as damaged.
    try {
        Database db = wal_may_hold_commits(path) ? Database::open(path, SQLITE_OPEN_READONLY)
                                                 : Database::open_immutable(path);
        configure_connection(db);
        writable_schema_version(db);
        // 4. Damage inside the file, which new events would otherwise join unnoticed: a
        //    read stops at the first damaged page, so they could not be read back past it.
        if (info.st_size <= kDamageCheckMaxBytes) {
            std::string verdict = db.query_text("PRAGMA quick_check(1)");
            if (verdict != "ok") {
                std::replace(verdict.begin(), verdict.end(), '\n', ' ');
                throw not_an_event_store(path, verdict);
            }
        }
    } catch (const SqliteError& error) {
        int code = error.primary_code();
        if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) {
            throw not_an_event_store(path, error.what());
        }
        // Other failures (a lock, an I/O error) are left to the open, which reports them.
    }
}

std::unique_ptr<EventStore> EventStore::open(const std::string& path, RetentionPolicy retention,
                                             Clock clock) {
    create_parent_directory(path);
    check_store_file(path);
    try {
        // One thread at a time uses an EventStore, so SQLite's own locking of the connection
        // is not needed.
        Database db =
            Database::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX);
        configure_connection(db);
        migrate(db);
        keep_wal_files(db);
        // Each insert updates seven indexes, whose pages SQLite reads back from the file
        // system when its page cache (2 MB by default) does not hold them.
        db.execute(fmt::format("PRAGMA cache_size = -{}", kWriterCacheKiB).c_str());
        if (!clock) clock = query::now_ms;
        return std::unique_ptr<EventStore>(
            new EventStore(std::move(db), retention, std::move(clock)));
    } catch (const SqliteError& error) {
        throw describe_open_failure(path, error);
    }
}

EventStore::EventStore(Database db, RetentionPolicy retention, Clock clock)
    : db_(std::move(db)),
      retention_(retention),
      clock_(std::move(clock)),
      insert_event_(db_.prepare(kInsertEvent)),
      insert_protocol_(db_.prepare(kInsertProtocol)),
      random_(std::random_device{}()) {}

std::string EventStore::next_event_uid(int64_t now) {
    // A UUID version 7: 48 bits of Unix milliseconds, then random bits. Ids of one writer
    // therefore sort roughly by time, which keeps inserts into the UNIQUE index near its end.
    uint64_t high = (static_cast<uint64_t>(now) << 16) | 0x7000u | (random_() & 0x0fffu);
    uint64_t low = (random_() & 0x3fffffffffffffffull) | 0x8000000000000000ull;
    return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xffff,
                       high & 0xffff, low >> 48, low & 0xffffffffffffull);
}

void EventStore::append(const events::Event& event) {
    if (sqlite3_get_autocommit(db_.handle()) != 0) db_.execute("BEGIN IMMEDIATE");
    int64_t now = clock_();
    Statement& s = insert_event_;
    s.reset();
    s.bind(1, next_event_uid(now));
    s.bind(2, now);
    s.bind(3, event.time_ms);
    s.bind(4, int64_t{static_cast<int>(event.activity)});
    s.bind(5, int64_t{event.ip_protocol});
    s.bind(6, event.source_ip);
    bind_address(s, 7, event.source_ip);
    s.bind(8, int64_t{event.source_port});
    s.bind(9, event.target_ip);
    bind_address(s, 10, event.target_ip);
    s.bind(11, int64_t{event.target_port});
    s.bind(12, int64_t{static_cast<int>(event.direction)});
    s.bind(13, event.connection_uid);
    bind_optional_text(s, 14, event.device);
    if (event.activity == events::Activity::kDisconnect) {
        s.bind(15, std::string_view(events::end_reason_name(event.reason)));
    }
    if (event.activity == events::Activity::kStatistics) bind_statistics(s, event);
    if (event.process) bind_process(s, *event.process);
    s.step();

    if (event.activity == events::Activity::kStatistics) {
        int64_t event_id = sqlite3_last_insert_rowid(db_.handle());
        int64_t position = 0;
        for (ProtocolId protocol : event.protocols) {
            insert_protocol_.reset();
            insert_protocol_.bind(1, event_id);
            insert_protocol_.bind(2, int64_t{static_cast<uint16_t>(protocol)});
            insert_protocol_.bind(3, position++);
            insert_protocol_.step();
        }
    }
    // Counted only once the event and its protocols are in, so a failure counts it once.
    ++pending_;
}

void EventStore::commit() {
    if (pending_ == 0) return;
    db_.execute("COMMIT");
    pending_ = 0;
}

uint64_t EventStore::rollback() {
    uint64_t lost = pending_;
    pending_ = 0;
    // SQLite may already have rolled back on SQLITE_FULL or an I/O error.
    if (!sqlite3_get_autocommit(db_.handle())) {
        sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
    return lost;
}

RetentionResult EventStore::enforce_retention() {
    return store::enforce_retention(db_, retention_, clock_());
}

}  // namespace pw::store
