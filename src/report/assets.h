#pragma once

#include <string_view>

namespace pw::report::assets {

// The files of web/ that every report contains, embedded at build time by
// cmake/embed_report_assets.cmake: the page template, its style and script, and the
// minified Apache ECharts from web/node_modules.
extern const std::string_view kPageTemplate;
extern const std::string_view kPageStyle;
extern const std::string_view kPageScript;
extern const std::string_view kChartLibrary;

}  // namespace pw::report::assets
