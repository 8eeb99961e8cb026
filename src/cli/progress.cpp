#include "cli/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>

namespace pw::cli {
namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(200);
constexpr int kBarWidth = 30;

}  // namespace

ProgressBar::ProgressBar(bool enabled)
    : enabled_(enabled && isatty(STDERR_FILENO) == 1),
      started_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { clear(); }

void ProgressBar::update(const std::string& label, uint64_t done, uint64_t total) {
    if (!enabled_ || total == 0) return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_draw_ < kRedrawInterval && done < total) return;
    last_draw_ = now;
    double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
    int filled = static_cast<int>(fraction * kBarWidth);
    double seconds = std::chrono::duration<double>(now - started_).count();
    double rate = seconds > 0 ? static_cast<double>(done) / seconds / 1e6 : 0.0;
    fmt::print(stderr, "\r[{:#<{}}{: <{}}] {:3.0f}% {:.1f} MB/s {}\x1b[K", "", filled, "",
               kBarWidth - filled, fraction * 100, rate, label);
    std::fflush(stderr);
    drawn_ = true;
}

void ProgressBar::clear() {
    if (!drawn_) return;
    fmt::print(stderr, "\r\x1b[K");
    std::fflush(stderr);
    drawn_ = false;
}

}  // namespace pw::cli
