#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "content/transfer.h"

namespace pw::content {
namespace {

using namespace std::string_view_literals;

detect::Session make_session() {
    return detect::Session(detect::Transport::kTcp, {}, 40000, {}, 80);
}

std::span<const uint8_t> bytes_of(std::string_view text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Feeds `text` in pieces of `piece` bytes, then ends the object.
void scan(TransferScanner& scanner, std::string_view text, size_t piece, detect::Session& session) {
    for (size_t at = 0; at < text.size(); at += piece) {
        if (!scanner.feed(bytes_of(text.substr(at, piece)), session)) break;
    }
    scanner.finish(session);
}

TEST(ContentTransfer, HtmlBlocksAcrossFeeds) {
    std::string page = "<html><head><title>t</title></head><body>";
    page.append(6000, ' ');
    page += "<SCRIPT type=\"text/javascript\">x()</SCRIPT><Style>p{}</Style></body></html>";
    for (size_t piece : {1, 3, 7, 100, 5000}) {
        detect::Session session = make_session();
        TransferScanner scanner("text/html");
        scan(scanner, page, piece, session);
        EXPECT_TRUE(session.has(ProtocolId::HTML)) << piece;
        EXPECT_TRUE(session.has(ProtocolId::HTML_SCRIPT_BLOCK)) << piece;
        EXPECT_TRUE(session.has(ProtocolId::HTML_CSS_BLOCK)) << piece;
    }
}

TEST(ContentTransfer, TagNamesMustEnd) {
    detect::Session session = make_session();
    TransferScanner scanner;
    scan(scanner, "<html><body><scripts></scripts><styles/></body></html>", 4, session);
    EXPECT_TRUE(session.has(ProtocolId::HTML));
    EXPECT_FALSE(session.has(ProtocolId::HTML_SCRIPT_BLOCK));
    EXPECT_FALSE(session.has(ProtocolId::HTML_CSS_BLOCK));
}

TEST(ContentTransfer, MarkupScanIsBounded) {
    std::string page = "<html><body>";
    page.append(TransferScanner::kMaxScanBytes, 'a');
    page += "<script>late()</script>";
    detect::Session session = make_session();
    TransferScanner scanner;
    scan(scanner, page, 1460, session);
    EXPECT_TRUE(session.has(ProtocolId::HTML));
    EXPECT_FALSE(session.has(ProtocolId::HTML_SCRIPT_BLOCK));
}

TEST(ContentTransfer, ScriptBlocksOnlyInHtml) {
    detect::Session session = make_session();
    TransferScanner scanner;
    scan(scanner, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR <script> <style>"sv, 5, session);
    EXPECT_TRUE(session.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(session.has(ProtocolId::HTML_SCRIPT_BLOCK));
}

TEST(ContentTransfer, JavaScriptByMediaType) {
    for (std::string_view type : {"application/javascript", "text/javascript; charset=utf-8",
                                  "application/x-javascript", "TEXT/JavaScript"}) {
        detect::Session session = make_session();
        TransferScanner scanner(type);
        scan(scanner, "x=1", 10, session);
        EXPECT_TRUE(session.has(ProtocolId::FILE_JS)) << type;
    }
    detect::Session image = make_session();
    TransferScanner scanner("application/javascript");
    scan(scanner, "GIF89a\x01\0\x01\0"sv, 10, image);
    EXPECT_TRUE(image.has(ProtocolId::IMAGE_GIF));
    EXPECT_FALSE(image.has(ProtocolId::FILE_JS));
    EXPECT_FALSE(is_javascript_media_type("application/json"));
    EXPECT_TRUE(is_javascript_media_type("text/javascript1.5"));
}

TEST(ContentTransfer, StopsWhenIdentified) {
    detect::Session session = make_session();
    TransferScanner scanner;
    std::string image = "GIF89a";
    image.append(TransferScanner::kMaxHeadBytes, '\x01');
    EXPECT_TRUE(scanner.feed(bytes_of(image.substr(0, 100)), session));
    EXPECT_FALSE(scanner.feed(bytes_of(image.substr(100)), session));
    EXPECT_TRUE(session.has(ProtocolId::IMAGE_GIF));
    EXPECT_FALSE(scanner.feed(bytes_of("more"), session));
}

TEST(ContentTransfer, ShortObjectIdentifiedAtFinish) {
    detect::Session session = make_session();
    TransferScanner scanner;
    EXPECT_TRUE(scanner.feed(bytes_of("BZh91AY&SY"), session));
    EXPECT_FALSE(session.has(ProtocolId::FILE_BZIP2));
    scanner.finish(session);
    EXPECT_TRUE(session.has(ProtocolId::FILE_BZIP2));
}

TEST(ContentTransfer, EmptyObjectRecordsNothing) {
    detect::Session session = make_session();
    TransferScanner scanner("text/javascript");
    scanner.finish(session);
    EXPECT_TRUE(session.protocols().empty());
}

// A compound file whose directory sits in sector 40, far past the head the scanner keeps.
TEST(ContentTransfer, OleDirectoryBeyondHead) {
    std::vector<uint8_t> file(512 * 42, 0);
    std::memcpy(file.data(), "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8);
    file[26] = 3;
    file[28] = 0xfe;
    file[29] = 0xff;
    file[30] = 9;
    file[32] = 6;
    file[48] = 40;
    size_t root = 512 * 41;
    std::memcpy(file.data() + root + 80,
                "\x14\x1a\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\x46", 16);
    file[root + 66] = 5;
    EXPECT_EQ(identify(std::span(file).first(TransferScanner::kMaxHeadBytes)), ProtocolId::kNone);

    detect::Session session = make_session();
    TransferScanner scanner;
    for (size_t at = 0; at < file.size(); at += 1000) {
        size_t n = std::min<size_t>(1000, file.size() - at);
        scanner.feed(std::span(file).subspan(at, n), session);
    }
    scanner.finish(session);
    EXPECT_TRUE(session.has(ProtocolId::APPLICATION_MSVISIO));
}

TEST(ContentTransfer, TarMembersFollowedPastHead) {
    auto header = [](std::string_view name, char type, size_t size) {
        std::vector<uint8_t> block(512, 0);
        std::memcpy(block.data(), name.data(), name.size());
        std::snprintf(reinterpret_cast<char*>(block.data()) + 124, 12, "%011zo", size);
        block[156] = static_cast<uint8_t>(type);
        std::memcpy(block.data() + 257, "ustar  ", 8);
        std::memset(block.data() + 148, ' ', 8);
        unsigned sum = 0;
        for (uint8_t byte : block) sum += byte;
        std::snprintf(reinterpret_cast<char*>(block.data()) + 148, 8, "%06o", sum);
        return block;
    };
    std::vector<uint8_t> archive = header("big.bin", '0', 100000);
    archive.resize(512 + 100352, 0x55);
    std::vector<uint8_t> pax = header("PaxHeaders/next", 'x', 20);
    archive.insert(archive.end(), pax.begin(), pax.end());

    detect::Session session = make_session();
    TransferScanner scanner;
    for (size_t at = 0; at < archive.size(); at += 1448) {
        size_t n = std::min<size_t>(1448, archive.size() - at);
        scanner.feed(std::span(archive).subspan(at, n), session);
    }
    scanner.finish(session);
    EXPECT_TRUE(session.has(ProtocolId::FILE_TAR));
    EXPECT_TRUE(session.has(ProtocolId::PAX_EXTENDED_HEADER_DATA));
}

TEST(ContentTransfer, RandomBytesDoNotCrash) {
    uint32_t state = 12345;
    for (int round = 0; round < 200; ++round) {
        std::vector<uint8_t> data(1 + round * 37);
        for (auto& byte : data) {
            state = state * 1103515245 + 12345;
            byte = static_cast<uint8_t>(state >> 16);
        }
        // Plant magic numbers so that the format checks read past them.
        static constexpr std::string_view kMagics[] = {"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"sv,
                                                       "BM"sv,
                                                       "\0\0\x01\0"sv,
                                                       "RIFF"sv,
                                                       "d8:"sv,
                                                       "\0\0\0\x10"
                                                       "ftyp"sv,
                                                       "<html>"sv,
                                                       "#!"sv};
        std::string_view magic = kMagics[round % std::size(kMagics)];
        std::memcpy(data.data(), magic.data(), std::min(magic.size(), data.size()));
        detect::Session session = make_session();
        TransferScanner scanner("text/html");
        for (size_t at = 0; at < data.size(); at += 97) {
            size_t n = std::min<size_t>(97, data.size() - at);
            scanner.feed(std::span(data).subspan(at, n), session);
        }
        scanner.finish(session);
        identify(data);
    }
    SUCCEED();
}

}  // namespace
}  // namespace pw::content
