#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace pw::cli {

// A one-line progress bar on stderr, redrawn in place at most a few times a second. It
// draws nothing unless stderr is a terminal.
class ProgressBar {
public:
    explicit ProgressBar(bool enabled);
    ~ProgressBar();

    void update(const std::string& label, uint64_t done, uint64_t total);
    // Erases the bar so that the next output starts on a clean line.
    void clear();

private:
    bool enabled_;
    bool drawn_ = false;
    std::chrono::steady_clock::time_point started_;
    std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace pw::cli
