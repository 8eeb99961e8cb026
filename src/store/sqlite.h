#pragma once

#include <sqlite3.h>
#include <sys/types.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pw::store {

// A failed SQLite call: the message names the operation and carries SQLite's own text.
class SqliteError : public std::runtime_error {
  public:
    SqliteError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    // The extended result code (SQLITE_FULL, SQLITE_CANTOPEN, ...).
    int code() const { return code_; }
    int primary_code() const { return code_ & 0xff; }

  private:
    int code_;
};

class Statement;

// An open connection. Move-only; closing happens in the destructor.
class Database {
  public:
    // Opens `path` with sqlite3_open_v2 `flags`. Throws SqliteError on failure.
    static Database open(const std::string& path, int flags);
    // Opens `path` read-only with the URI parameter immutable=1: SQLite then takes no lock,
    // ignores any -wal file and creates no file beside the database. Safe only while no other
    // connection writes the file and the -wal file contains no commits. While this process
    // has the file open through another connection (is_open_in_process()), it opens it
    // read-only with locks instead. Throws SqliteError.
    static Database open_immutable(const std::string& path);

    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    sqlite3* handle() const { return db_; }
    const std::string& path() const { return path_; }

    // Runs one or more statements that return no rows needed by the caller.
    void execute(const char* sql);
    Statement prepare(std::string_view sql);
    // Runs a statement whose first row's first column is an integer (a PRAGMA, a count).
    int64_t query_int(const char* sql);
    std::string query_text(const char* sql);

  private:
    Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    // Counts the connection in is_open_in_process(), or stops counting it.
    void note_open();
    void note_closed();
    sqlite3* db_ = nullptr;
    std::string path_;
    bool counted_ = false;  // by note_open()
    dev_t device_ = 0;
    ino_t inode_ = 0;
};

// True while this process has `path` open through a connection that takes locks. POSIX
// locks belong to the process, and closing any descriptor of a file drops every lock the
// process holds on it (fcntl(2)). SQLite's connections share one descriptor per file to
// avoid that, but a descriptor opened beside them, by a plain read of the file or by an
// immutable connection, drops their locks when it closes. Another process could then
// delete the -wal file still in use, and the events written to it would be lost.
bool is_open_in_process(const std::string& path);

// A prepared statement. Parameters are numbered from 1 and columns from 0, as in SQLite.
class Statement {
  public:
    Statement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    void bind(int index, int64_t value);
    // Binds `value` as text, with what is not UTF-8 replaced as to_valid_utf8() does.
    void bind(int index, std::string_view value);
    void bind(int index, std::span<const uint8_t> value);
    void bind_null(int index);

    // Steps once: true when a row is ready, false when the statement is done.
    bool step();
    // Resets the statement and clears its bindings for the next use.
    void reset();

    bool is_null(int column) const;
    int64_t column_int(int column) const;
    std::string column_text(int column) const;
    std::span<const uint8_t> column_blob(int column) const;

  private:
    sqlite3* db_ = nullptr;
    sqlite3_stmt* statement_ = nullptr;
};

// Whether the -wal file of the database at `path` exists and is not empty. An empty or missing
// one contains no commits, so the database file alone is the whole database.
bool wal_may_hold_commits(const std::string& path);

// Throws SqliteError for `code` unless it is SQLITE_OK, prefixing `what` to SQLite's message.
void check(sqlite3* db, int code, std::string_view what);

}  // namespace pw::store
