#include "store/sqlite.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <mutex>
#include <utility>

#include "common/ascii.h"

namespace pw::store {
namespace {

// A file: URI for `path`. Every byte but unreserved characters and '/' is percent-encoded, so
// that '?', '#' and '%' in a file name stay part of the path. The path is made absolute and
// follows an empty authority, because "file:" followed by "//" would start a host name.
std::string file_uri(const std::string& path) {
    std::string absolute = std::filesystem::absolute(path).string();
    std::string uri = "file://";
    for (unsigned char c : absolute) {
        bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '.' || c == '_' ||
                          c == '~';
        if (unreserved) {
            uri += static_cast<char>(c);
        } else {
            uri += fmt::format("%{:02X}", c);
        }
    }
    return uri;
}

// Files open through connections that take locks, by device and inode, with how many.
std::mutex open_files_mutex;
std::map<std::pair<dev_t, ino_t>, int> open_files;

}  // namespace

bool is_open_in_process(const std::string& path) {
    struct stat info {};
    if (stat(path.c_str(), &info) != 0) return false;
    std::lock_guard lock(open_files_mutex);
    return open_files.contains({info.st_dev, info.st_ino});
}

void Database::note_open() {
    struct stat info {};
    if (stat(path_.c_str(), &info) != 0) return;
    device_ = info.st_dev;
    inode_ = info.st_ino;
    std::lock_guard lock(open_files_mutex);
    ++open_files[{device_, inode_}];
    counted_ = true;
}

void Database::note_closed() {
    if (!counted_) return;
    counted_ = false;
    std::lock_guard lock(open_files_mutex);
    auto it = open_files.find({device_, inode_});
    if (it != open_files.end() && --it->second == 0) open_files.erase(it);
}

void check(sqlite3* db, int code, std::string_view what) {
    if (code == SQLITE_OK) return;
    int extended = db != nullptr ? sqlite3_extended_errcode(db) : code;
    const char* message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    throw SqliteError(extended, fmt::format("{}: {}", what, message));
}

bool wal_may_hold_commits(const std::string& path) {
    std::error_code error;
    uintmax_t size = std::filesystem::file_size(path + "-wal", error);
    return !error && size > 0;
}

Database Database::open(const std::string& path, int flags) {
    sqlite3* db = nullptr;
    int code = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_EXRESCODE, nullptr);
    if (code != SQLITE_OK) {
        std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code);
        sqlite3_close(db);
        throw SqliteError(code, message);
    }
    Database database(db, path);
    if ((flags & SQLITE_OPEN_URI) == 0) database.note_open();
    return database;
}

Database Database::open_immutable(const std::string& path) {
    if (is_open_in_process(path)) return open(path, SQLITE_OPEN_READONLY);
    Database db = open(file_uri(path) + "?immutable=1", SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    db.path_ = path;
    return db;
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      path_(std::move(other.path_)),
      counted_(std::exchange(other.counted_, false)),
      device_(other.device_),
      inode_(other.inode_) {}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        sqlite3_close_v2(db_);
        note_closed();
        db_ = std::exchange(other.db_, nullptr);
        path_ = std::move(other.path_);
        counted_ = std::exchange(other.counted_, false);
        device_ = other.device_;
        inode_ = other.inode_;
    }
    return *this;
}

Database::~Database() {
    sqlite3_close_v2(db_);
    note_closed();
}

void Database::execute(const char* sql) {
    char* error = nullptr;
    int code = sqlite3_exec(db_, sql, nullptr, nullptr, &error);
    if (code != SQLITE_OK) {
        std::string message = error != nullptr ? error : sqlite3_errstr(code);
        sqlite3_free(error);
        throw SqliteError(sqlite3_extended_errcode(db_), message);
    }
}

Statement Database::prepare(std::string_view sql) {
    sqlite3_stmt* statement = nullptr;
    check(db_,
          sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                             SQLITE_PREPARE_PERSISTENT, &statement, nullptr),
          "failed to prepare a statement");
    return Statement(db_, statement);
}

int64_t Database::query_int(const char* sql) {
    Statement statement = prepare(sql);
    return statement.step() ? statement.column_int(0) : 0;
}

std::string Database::query_text(const char* sql) {
    Statement statement = prepare(sql);
    return statement.step() ? statement.column_text(0) : std::string();
}

Statement::Statement(Statement&& other) noexcept
    : db_(other.db_), statement_(std::exchange(other.statement_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(statement_);
        db_ = other.db_;
        statement_ = std::exchange(other.statement_, nullptr);
    }
    return *this;
}

Statement::~Statement() { sqlite3_finalize(statement_); }

void Statement::bind(int index, int64_t value) {
    check(db_, sqlite3_bind_int64(statement_, index, value), "failed to bind a parameter");
}

void Statement::bind(int index, std::string_view value) {
    // SQLite stores text as it is given, and other readers (Python's sqlite3, say) fail on
    // rows that are not UTF-8. Process names and device names need not be, so they are
    // stored as the JSON output prints them, and a search for the printed value finds them.
    std::string repaired;
    if (!is_valid_utf8(value)) {
        repaired = to_valid_utf8(value);
        value = repaired;
    }
    check(db_,
          sqlite3_bind_text64(statement_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                              SQLITE_UTF8),
          "failed to bind a parameter");
}

void Statement::bind(int index, std::span<const uint8_t> value) {
    check(db_, sqlite3_bind_blob64(statement_, index, value.data(), value.size(), SQLITE_TRANSIENT),
          "failed to bind a parameter");
}

void Statement::bind_null(int index) {
    check(db_, sqlite3_bind_null(statement_, index), "failed to bind a parameter");
}

bool Statement::step() {
    int code = sqlite3_step(statement_);
    if (code == SQLITE_ROW) return true;
    if (code == SQLITE_DONE) return false;
    // The statement must be reset before its next use, and the reset also reports the error.
    sqlite3_reset(statement_);
    throw SqliteError(sqlite3_extended_errcode(db_), sqlite3_errmsg(db_));
}

void Statement::reset() {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
}

bool Statement::is_null(int column) const {
    return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

int64_t Statement::column_int(int column) const { return sqlite3_column_int64(statement_, column); }

std::string Statement::column_text(int column) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    if (text == nullptr) return {};
    return std::string(text, static_cast<size_t>(sqlite3_column_bytes(statement_, column)));
}

std::span<const uint8_t> Statement::column_blob(int column) const {
    const auto* data = static_cast<const uint8_t*>(sqlite3_column_blob(statement_, column));
    auto size = static_cast<size_t>(sqlite3_column_bytes(statement_, column));
    return {data, data == nullptr ? 0 : size};
}

}  // namespace pw::store
