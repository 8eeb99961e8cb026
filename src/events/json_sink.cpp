#include "events/json_sink.h"

#include <spdlog/spdlog.h>

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
    file_ = std::fopen(path.c_str(), "w");
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

void JsonLinesSink::write(const Event& event) {
    if (!ok_) return;
    std::string line = to_json_line(event);
    line.push_back('\n');
    if (std::fwrite(line.data(), 1, line.size(), file_) != line.size()) {
        ok_ = false;
        spdlog::error("writing events to '{}' failed: {}; later events are not written there",
                      path_ == "-" ? "stdout" : path_, std::strerror(errno));
    }
}

void JsonLinesSink::flush() {
    if (ok_ && std::fflush(file_) != 0) {
        ok_ = false;
        spdlog::error("writing events to '{}' failed: {}", path_ == "-" ? "stdout" : path_,
                      std::strerror(errno));
    }
}

}  // namespace pw::events
