#include "events/json_sink.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "events/json.h"

namespace pw::events {

JsonLinesSink::JsonLinesSink(const std::string& path) : path_(path) {
    if (path == "-") {
        file_ = stdout;
        return;
    }
    // Not readable by every user: events carry command lines, which may hold secrets.
    const int descriptor = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    file_ = descriptor >= 0 ? fdopen(descriptor, "w") : nullptr;
    if (file_ == nullptr && descriptor >= 0) ::close(descriptor);
    if (file_ == nullptr) {
        throw std::runtime_error("cannot open the --json file '" + path + "' for writing events: " +
                                 std::strerror(errno) + "; choose another path with --json");
    }
    owned_ = true;
}

JsonLinesSink::~JsonLinesSink() {
    flush();
    if (owned_) std::fclose(file_);
}

void JsonLinesSink::write_each_line() { std::setvbuf(file_, nullptr, _IOLBF, 0); }

void JsonLinesSink::write(const Event& event) {
    if (!ok_) return;
    std::string line = to_json_line(event);
    line.push_back('\n');
    // A line-buffered stream writes the line within fwrite() and reports a failure of that
    // write only in its error flag.
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::ferror(file_)) {
        fail("writing");
    }
}

void JsonLinesSink::flush() {
    if (ok_ && std::fflush(file_) != 0) fail("flushing");
}

void JsonLinesSink::fail(const char* operation) {
    const int error = errno;
    ok_ = false;
    const std::string target = path_ == "-" ? "stdout" : "'" + path_ + "'";
    if (error == EPIPE) {
        // The reader is gone (`| head`): normal for a pipe, so not an error.
        closed_.store(true, std::memory_order_relaxed);
        spdlog::info("the reader of {} closed it; later events are not written there", target);
        return;
    }
    spdlog::error("{} events to {} failed: {}; later events are not written there", operation,
                  target, std::strerror(error));
}

}  // namespace pw::events
