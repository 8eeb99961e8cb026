#include "control/protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace pw::control {

LineReader::Status LineReader::next(std::string& line) {
    while (true) {
        size_t newline = buffer_.find('\n', scanned_);
        if (newline != std::string::npos) {
            if (newline > kMaxLineBytes) return Status::kTooLong;
            line.assign(buffer_, 0, newline);
            buffer_.erase(0, newline + 1);
            scanned_ = 0;
            return Status::kLine;
        }
        scanned_ = buffer_.size();
        if (buffer_.size() > kMaxLineBytes) return Status::kTooLong;
        if (ended_) {
            if (buffer_.empty()) return Status::kEnd;
            line = std::move(buffer_);
            buffer_.clear();
            scanned_ = 0;
            return Status::kLine;
        }

        if (deadline_) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                *deadline_ - std::chrono::steady_clock::now());
            pollfd readable{fd_, POLLIN, 0};
            const int ready =
                left.count() > 0 ? poll(&readable, 1, static_cast<int>(left.count())) : 0;
            if (ready < 0 && errno == EINTR) continue;
            if (ready < 0) throw std::system_error(errno, std::generic_category(), "poll");
            if (ready == 0) throw std::system_error(ETIMEDOUT, std::generic_category(), "read");
        }
        char chunk[16384];
        ssize_t count = read(fd_, chunk, sizeof chunk);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw std::system_error(errno, std::generic_category(), "read");
        if (count == 0) ended_ = true;
        buffer_.append(chunk, static_cast<size_t>(count));
    }
}

void write_line(int fd, const nlohmann::json& message) {
    // Invalid UTF-8 in a value (a file name, say) is replaced rather than failing the reply.
    std::string text = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text += '\n';
    size_t written = 0;
    while (written < text.size()) {
        // MSG_NOSIGNAL: a client that hung up yields EPIPE rather than killing the agent.
        ssize_t count = send(fd, text.data() + written, text.size() - written, MSG_NOSIGNAL);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) throw std::system_error(errno, std::generic_category(), "send");
        written += static_cast<size_t>(count);
    }
}

}  // namespace pw::control
