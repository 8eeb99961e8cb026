#include "report/page.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "report/assets.h"

namespace pw::report {
namespace {

// Replaces the one `marker` of the template with `content`.
void fill(std::string& page, std::string_view marker, std::string_view content) {
    size_t at = page.find(marker);
    if (at == std::string::npos) {
        throw std::logic_error(fmt::format("report template has no {}", marker));
    }
    page.replace(at, marker.size(), content);
}

// JSON for a <script type="application/json"> element: '<' only occurs inside JSON strings,
// where \u003c means the same, so no "</script>" in a process name can end the element.
std::string script_safe_json(const nlohmann::json& data) {
    std::string text = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '<') {
            out += "\\u003c";
        } else {
            out += c;
        }
    }
    return out;
}

std::filesystem::path directory_of(const std::string& path) {
    std::filesystem::path parent = std::filesystem::path(path).parent_path();
    return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

std::string render_page(const nlohmann::json& data) {
    std::string page(assets::kPageTemplate);
    // The data goes in last, so a marker inside the data is never replaced.
    fill(page, "/*@style@*/", assets::kPageStyle);
    fill(page, "/*@chart_library@*/", assets::kChartLibrary);
    fill(page, "/*@script@*/", assets::kPageScript);
    fill(page, "/*@data@*/", script_safe_json(data));
    return page;
}

void check_output_path(const std::string& path, std::string_view option) {
    if (path == "-") {
        throw std::invalid_argument(fmt::format(
            "invalid output path '-': the report is a file of its own, not written to standard "
            "output; give a file name with {}",
            option));
    }
    if (path.empty()) {
        throw std::invalid_argument(
            fmt::format("invalid output path '': it is empty; give a file name with {}", option));
    }
    if (path.back() == '/') {
        throw std::invalid_argument(fmt::format(
            "invalid output path '{}': it ends with '/'; give a file name with {}", path, option));
    }
    std::filesystem::path directory = directory_of(path);
    std::error_code error;
    if (!std::filesystem::exists(directory, error)) {
        throw std::invalid_argument(
            fmt::format("invalid output path '{}': the directory {} does not exist; create it or "
                        "choose another path with {}",
                        path, directory.string(), option));
    }
    if (!std::filesystem::is_directory(directory, error)) {
        throw std::invalid_argument(
            fmt::format("invalid output path '{}': {} is not a directory; choose another path "
                        "with {}",
                        path, directory.string(), option));
    }
    if (std::filesystem::is_directory(path, error)) {
        throw std::invalid_argument(fmt::format(
            "invalid output path '{}': it is a directory; give a file name with {}", path, option));
    }
    if (access(directory.c_str(), W_OK) != 0) {
        throw std::invalid_argument(
            fmt::format("invalid output path '{}': the directory {} is not writable ({}); choose "
                        "another path with {}",
                        path, directory.string(), std::strerror(errno), option));
    }
}

void write_page(const std::string& path, const std::string& html) {
    auto fail = [&](const std::string& what, const std::string& reason) {
        return std::runtime_error(
            fmt::format("failed to write the report to '{}': {}", what, reason));
    };
    auto write_all = [&](int fd) {
        size_t written = 0;
        while (written < html.size()) {
            ssize_t n = ::write(fd, html.data() + written, html.size() - written);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return n < 0 ? errno : ENOSPC;
            written += static_cast<size_t>(n);
        }
        return 0;
    };
    std::error_code error;
    auto status = std::filesystem::status(path, error);
    if (!error && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
        // A device or a FIFO (/dev/stdout, a pipe to a mailer) is written into; anything
        // else that is not a regular file would be destroyed by replacing it.
        if (!std::filesystem::is_character_file(status) && !std::filesystem::is_fifo(status)) {
            throw fail(path, "it exists and is not a regular file; choose a file path");
        }
        int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0) throw fail(path, std::strerror(errno));
        int failed = write_all(fd);
        if (::close(fd) != 0 && failed == 0) failed = errno;
        if (failed != 0) throw fail(path, std::strerror(failed));
        return;
    }
    // A new file of a unique name beside the report, created exclusively, so that no file
    // planted under a predictable name is written through; then renamed over the report.
    std::string temporary = path + ".XXXXXX";
    int fd = mkstemp(temporary.data());
    if (fd < 0) throw fail(path, std::strerror(errno));
    fchmod(fd, 0644);
    if (int failed = write_all(fd); failed != 0) {
        ::close(fd);
        ::unlink(temporary.c_str());
        throw fail(path, std::strerror(failed));
    }
    if (::close(fd) != 0) {
        int saved = errno;
        ::unlink(temporary.c_str());
        throw fail(path, std::strerror(saved));
    }
    if (std::rename(temporary.c_str(), path.c_str()) != 0) {
        int saved = errno;
        ::unlink(temporary.c_str());
        throw fail(path, std::strerror(saved));
    }
}

}  // namespace pw::report
