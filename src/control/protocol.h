#pragma once

#include <chrono>
#include <optional>

// The control protocol: newline-delimited JSON over a Unix stream socket. A request is
// {"id": N, "command": "NAME", "args": {...}}; the agent answers with zero or more
// {"id": N, "item": ...} lines (rows of a listing) and then one final line, either
// {"id": N, "ok": true, "result": ...} or {"id": N, "ok": false, "error": "...", "code": "..."}.
// docs/policy.md describes the commands.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace pw::control {

// The socket the agent listens on unless told otherwise.
inline constexpr const char* kDefaultSocketPath = "/run/protowatch/control.sock";

// The environment variable that overrides kDefaultSocketPath for the command line.
inline constexpr const char* kSocketPathVariable = "PROTOWATCH_CONTROL_SOCKET";

// The longest request or response line, newline excluded. Requests carry paths and small
// arguments, so a longer line is a client error; a listing is sent as one line per item.
inline constexpr size_t kMaxLineBytes = 1 << 20;

// The error codes of a final line with "ok": false.
inline constexpr const char* kCodeDenied = "denied";            // the caller's role is too low
inline constexpr const char* kCodeInvalid = "invalid_request";  // malformed line or arguments
inline constexpr const char* kCodeUnknown = "unknown_command";
inline constexpr const char* kCodeFailed = "failed";  // the command ran and failed
inline constexpr const char* kCodeBusy = "busy";      // every connection slot is taken

// An error a command handler throws; its message goes to the client with `code`.
class CommandError : public std::runtime_error {
  public:
    explicit CommandError(const std::string& message, std::string code = kCodeFailed)
        : std::runtime_error(message), code_(std::move(code)) {}
    const std::string& code() const { return code_; }

  private:
    std::string code_;
};

// Reads newline-terminated lines from a file descriptor, at most kMaxLineBytes each.
class LineReader {
  public:
    explicit LineReader(int fd) : fd_(fd) {}

    enum class Status { kLine, kEnd, kTooLong };
    // Reads the next line into `line` without its newline. kEnd at the end of the stream (a
    // last line without a newline is still returned first); kTooLong when a line exceeds
    // kMaxLineBytes. Throws std::system_error when read fails, with ETIMEDOUT when the
    // deadline passes first.
    Status next(std::string& line);

    // Makes next() give up at `deadline`, however the bytes trickle in.
    void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }

  private:
    int fd_;
    std::optional<std::chrono::steady_clock::time_point> deadline_;
    std::string buffer_;
    size_t scanned_ = 0;
    bool ended_ = false;
};

// Writes `message` and a newline to `fd`, retrying short writes. Throws std::system_error.
void write_line(int fd, const nlohmann::json& message);

}  // namespace pw::control
