#pragma once

#include <atomic>
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

    // True once a write failed with EPIPE: the reader of the pipe or FIFO went away. Safe
    // to read from any thread while another writes.
    bool closed() const { return closed_.load(std::memory_order_relaxed); }

    // The flag behind closed(), for a reader that polls it once per frame.
    const std::atomic<bool>* closed_flag() const { return &closed_; }

private:
    void fail(const char* operation);

    std::string path_;
    FILE* file_ = nullptr;
    bool owned_ = false;
    bool ok_ = true;
    std::atomic<bool> closed_ = false;
};

}  // namespace pw::events
