// The report page: assembled from the embedded assets, with the data inline and safe.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "report/page.h"
#include "report/report.h"
#include "store_test_helpers.h"

namespace pw::report {
namespace {

using store::testing::TempDir;

TEST(ReportPage, InlinesAssetsAndData) {
    std::string page = render_page({{"marker", "report-data-value"}});
    EXPECT_NE(page.find("report-data-value"), std::string::npos);
    EXPECT_NE(page.find("echarts"), std::string::npos);
    EXPECT_EQ(page.find("/*@"), std::string::npos);  // every marker was filled
    EXPECT_EQ(page.find("<link"), std::string::npos);
}

TEST(ReportPage, DataCannotCloseScript) {
    std::string page = render_page({{"process", "</script><script>alert(1)</script>"}});
    EXPECT_EQ(page.find("</script><script>alert"), std::string::npos);
    EXPECT_NE(page.find("\\u003c/script>"), std::string::npos);
}

TEST(ReportPage, InvalidUtf8IsReplaced) {
    EXPECT_NO_THROW(render_page({{"process", std::string("bad\xff name")}}));
}

TEST(ReportPage, RejectsMissingDirectory) {
    TempDir dir;
    EXPECT_THROW(check_output_path(dir.file("missing/report.html"), "-o"), std::invalid_argument);
    EXPECT_THROW(check_output_path(dir.path().string(), "-o"), std::invalid_argument);
    EXPECT_NO_THROW(check_output_path(dir.file("report.html"), "-o"));
    EXPECT_THROW(check_output_path("", "-o"), std::invalid_argument);
    EXPECT_THROW(check_output_path(dir.file("report.html/"), "-o"), std::invalid_argument);
    // A parent that is a file rather than a directory.
    write_page(dir.file("plain"), "x");
    try {
        check_output_path(dir.file("plain/report.html"), "-o");
        ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("is not a directory"), std::string::npos)
            << error.what();
    }
    // The message names the option that gave the path.
    try {
        check_output_path(dir.file("missing/report.html"), "--report");
        ADD_FAILURE() << "no exception";
    } catch (const std::invalid_argument& error) {
        EXPECT_NE(std::string(error.what()).find("with --report"), std::string::npos)
            << error.what();
    }
}

TEST(ReportPage, WritesWholeFile) {
    TempDir dir;
    write_page(dir.file("report.html"), "<html></html>");
    std::ifstream in(dir.file("report.html"));
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "<html></html>");
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(ReportPage, WritesIntoADeviceWithoutReplacingIt) {
    write_page("/dev/null", "<html></html>");
    EXPECT_TRUE(std::filesystem::is_character_file("/dev/null"));
    EXPECT_THROW(write_page("/dev/full", "<html></html>"), std::runtime_error);
    EXPECT_TRUE(std::filesystem::is_character_file("/dev/full"));
}

TEST(ReportPage, DoesNotWriteThroughAPlantedLink) {
    TempDir dir;
    { std::ofstream(dir.file("victim.txt")) << "keep"; }
    std::filesystem::create_symlink(dir.file("victim.txt"), dir.file("report.html.part"));
    write_page(dir.file("report.html"), "<html></html>");
    std::ifstream victim(dir.file("victim.txt"));
    EXPECT_EQ(std::string(std::istreambuf_iterator<char>(victim), {}), "keep");
}

TEST(ReportPage, SearchCommandQuotesForShell) {
    EXPECT_EQ(search_command("/tmp/it's.db", "process = \"a b\"", "2024-01-01T00:00:00.000Z", ""),
              "protowatch search --store '/tmp/it'\\''s.db' --since 2024-01-01T00:00:00.000Z "
              "'id = statistics and (process = \"a b\")'");
    EXPECT_EQ(search_command("s.db", "", "", ""),
              "protowatch search --store 's.db' 'id = statistics'");
}

}  // namespace
}  // namespace pw::report
