#include "report/page.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
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

void check_output_path(const std::string& path) {
    std::filesystem::path directory = directory_of(path);
    std::error_code error;
    if (!std::filesystem::is_directory(directory, error)) {
        throw std::invalid_argument(
            fmt::format("invalid output path '{}': the directory {} does not exist; create it or "
                        "choose another path with -o",
                        path, directory.string()));
    }
    if (std::filesystem::is_directory(path, error)) {
        throw std::invalid_argument(fmt::format(
            "invalid output path '{}': it is a directory; give a file name with -o", path));
    }
    if (access(directory.c_str(), W_OK) != 0) {
        throw std::invalid_argument(
            fmt::format("invalid output path '{}': the directory {} is not writable ({}); choose "
                        "another path with -o",
                        path, directory.string(), std::strerror(errno)));
    }
}

void write_page(const std::string& path, const std::string& html) {
    std::string temporary = path + ".part";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out.write(html.data(), static_cast<std::streamsize>(html.size()));
        out.close();
        if (!out) {
            std::error_code ignored;
            std::filesystem::remove(temporary, ignored);
            throw std::runtime_error(fmt::format("failed to write the report to '{}': {}",
                                                 temporary, std::strerror(errno)));
        }
    }
    std::error_code error;
    std::filesystem::rename(temporary, path, error);
    if (error) {
        std::filesystem::remove(temporary, error);
        throw std::runtime_error(
            fmt::format("failed to write the report to '{}': {}", path, error.message()));
    }
}

}  // namespace pw::report
