#pragma once

#include <cstdio>
#include <string>

#include "events/event.h"

namespace pw::events {

// Writes events as JSON Lines to a file or to stdout ("-").
class JsonLinesSink : public EventSink {
public:
    // Throws std::runtime_error naming the path when it cannot be opened for writing.
    explicit JsonLinesSink(const std::string& path);
    ~JsonLinesSink() override;
    JsonLinesSink(const JsonLinesSink&) = delete;
    JsonLinesSink& operator=(const JsonLinesSink&) = delete;

    void write(const Event& event) override;
    void flush() override;

    // Writes each event's line at once instead of a buffer at a time, for a reader that
    // follows a live input. Call before the first event.
    void write_each_line();

    // False once a write failed (a closed pipe, a full disk); the error is logged once.
    bool ok() const { return ok_; }

private:
    std::string path_;
    FILE* file_ = nullptr;
    bool owned_ = false;
    bool ok_ = true;
};

}  // namespace pw::events
