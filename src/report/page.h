#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace pw::report {

// Builds the self-contained HTML page of a report: the template with the style, the chart
// library, the page script and `data` inline. The page loads nothing from anywhere.
std::string render_page(const nlohmann::json& data);

// Throws std::invalid_argument naming `path` when its directory is missing or not writable,
// so a command fails before it does the work.
void check_output_path(const std::string& path, std::string_view option);

// Writes `html` to `path` through a temporary file in the same directory, so a reader never
// sees half a report. Throws std::runtime_error naming the path.
void write_page(const std::string& path, const std::string& html);

}  // namespace pw::report
