#include "detect/http_message.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace pw::detect::http {
namespace {

using namespace std::string_view_literals;

TEST(HttpMessage, RequestLines) {
    auto get = parse_start_line("GET /index.html?a=b HTTP/1.1");
    ASSERT_TRUE(get.has_value());
    EXPECT_TRUE(get->is_request);
    EXPECT_EQ(get->method, "GET");
    EXPECT_EQ(get->target, "/index.html?a=b");
    EXPECT_EQ(get->minor_version, 1);

    auto proxy = parse_start_line("CONNECT example.test:443 HTTP/1.0");
    ASSERT_TRUE(proxy.has_value());
    EXPECT_EQ(proxy->target, "example.test:443");

    auto spaces = parse_start_line("GET /a file.txt HTTP/1.1");
    ASSERT_TRUE(spaces.has_value());
    EXPECT_EQ(spaces->target, "/a file.txt");

    auto old = parse_start_line("GET /index.html");
    ASSERT_TRUE(old.has_value());
    EXPECT_EQ(old->minor_version, -1);

    EXPECT_TRUE(parse_start_line("PROPFIND /dav/ HTTP/1.1"));
    EXPECT_TRUE(parse_start_line("CCM_POST /ccm_system/request HTTP/1.1"));
}

TEST(HttpMessage, InvalidRequestLines) {
    EXPECT_FALSE(parse_start_line("FETCH / HTTP/1.1"));
    EXPECT_FALSE(parse_start_line("get / HTTP/1.1"));
    EXPECT_FALSE(parse_start_line("GET / HTTP/2.0"));
    EXPECT_FALSE(parse_start_line("PRI * HTTP/2.0"));
    EXPECT_FALSE(parse_start_line("GET / HTTP/1."));
    EXPECT_FALSE(parse_start_line("OPTIONS HTTP/1.1"));
    EXPECT_FALSE(parse_start_line("GET  HTTP/1.1"));
    EXPECT_FALSE(parse_start_line("GET key"));
    EXPECT_FALSE(parse_start_line("GET /a\x01 HTTP/1.1"));
    EXPECT_FALSE(parse_start_line("INVITE sip:bob@example.test SIP/2.0"));
    EXPECT_FALSE(parse_start_line(""));
}

TEST(HttpMessage, StatusLines) {
    auto ok = parse_start_line("HTTP/1.1 200 OK");
    ASSERT_TRUE(ok.has_value());
    EXPECT_FALSE(ok->is_request);
    EXPECT_EQ(ok->status, 200);
    auto bare = parse_start_line("HTTP/1.0 404");
    ASSERT_TRUE(bare.has_value());
    EXPECT_EQ(bare->status, 404);
    EXPECT_TRUE(parse_start_line("HTTP/1.1 101 "));
    EXPECT_FALSE(parse_start_line("HTTP/1.1 20 OK"));
    EXPECT_FALSE(parse_start_line("HTTP/1.1 2000 OK"));
    EXPECT_FALSE(
        parse_start_line("HTTP/1.1\x10"
                         "101 Switching Protocols"));
    EXPECT_FALSE(parse_start_line("HTTP/2 200"));
    EXPECT_FALSE(parse_start_line("HTTP/1.1 099 Low"));
    EXPECT_FALSE(parse_start_line("RTSP/1.0 200 OK"));
}

TEST(HttpMessage, StartLinePrefixes) {
    for (std::string_view prefix :
         {"", "G", "GE", "GET", "GET ", "GET /x", "H", "HTTP/", "HTTP/1.1 2", "PROPP", "M"}) {
        EXPECT_TRUE(could_be_start_line(prefix)) << prefix;
    }
    for (std::string_view prefix :
         {"Z", "GETX", "get", "\x16\x03\x01", "SSH-2.0", "HTTQ", "FOO /x"}) {
        EXPECT_FALSE(could_be_start_line(prefix)) << prefix;
    }
}

TEST(HttpMessage, PartialStartLines) {
    EXPECT_TRUE(is_partial_start_line("GET /images/sf.net_box.gif HTT"));
    EXPECT_TRUE(is_partial_start_line("POST http://proxy.test/x"));
    EXPECT_TRUE(is_partial_start_line("HTTP/1.1 200"));
    EXPECT_FALSE(is_partial_start_line("HTTP/1.1 2"));
    EXPECT_FALSE(is_partial_start_line("GET key"));
    EXPECT_FALSE(is_partial_start_line("GET"));
}

TEST(HttpMessage, HeadFields) {
    auto head = parse_head(
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: Text/HTML; charset=UTF-8\r\n"
        "content-length:  42 \r\n"
        "Content-Length: 43\r\n"
        "Transfer-Encoding: gzip, chunked\r\n"
        "Content-Encoding: GZIP\r\n"
        "Upgrade: WebSocket\r\n"
        "Bad Name: ignored\r\n"
        "\r\n");
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(head->content_type, "text/html");
    ASSERT_TRUE(head->content_length.has_value());
    EXPECT_EQ(*head->content_length, 42u);
    EXPECT_TRUE(head->chunked);
    EXPECT_EQ(head->content_encoding, "gzip");
    EXPECT_TRUE(list_has_token(head->upgrade, "websocket"));
}

TEST(HttpMessage, MultipartBoundary) {
    auto boundary_of = [](const std::string& content_type) {
        auto head = parse_head("POST /upload HTTP/1.1\r\nContent-Type: " + content_type + "\r\n");
        return head ? head->boundary : std::string("(no head)");
    };
    // curl -F, and a browser's quoted form.
    EXPECT_EQ(boundary_of("multipart/form-data; boundary=------------------------d74496d66958873e"),
              "------------------------d74496d66958873e");
    EXPECT_EQ(boundary_of("Multipart/Form-Data; charset=utf-8; BOUNDARY=\"a b;c\""), "a b;c");
    EXPECT_EQ(boundary_of("multipart/mixed;boundary=xyz ; x=1"), "xyz");
    // Longer than the 70 characters that RFC 2046 allows.
    EXPECT_EQ(boundary_of("multipart/form-data; boundary=" + std::string(200, 'b')),
              std::string(200, 'b'));
    // Not multipart, no parameter, an unclosed quote, or longer than kMaxBoundary.
    EXPECT_EQ(boundary_of("text/plain; boundary=xyz"), "");
    EXPECT_EQ(boundary_of("multipart/form-data"), "");
    EXPECT_EQ(boundary_of("multipart/form-data; boundary=\"xyz"), "");
    EXPECT_EQ(boundary_of("multipart/form-data; boundary=" + std::string(kMaxBoundary + 1, 'b')),
              "");
}

TEST(HttpMessage, IrregularFieldLines) {
    auto head = parse_head(
        "HTTP/1.1 200 OK\n"
        "Content-Encoding:\n"
        " gzip\n"
        "Content\x00-Length: 5\n"
        "Content-Length: -1\n"
        "X-A: 1\rContent-Type: text/html\n"
        "\n"sv);
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(head->content_encoding, "");
    EXPECT_FALSE(head->content_length.has_value());
    EXPECT_EQ(head->content_type, "");
}

TEST(HttpMessage, CodingLists) {
    auto head = parse_head(
        "HTTP/1.1 200 OK\r\n"
        "Content-Encoding: deflate\r\n"
        "Transfer-Encoding: , X-GZIP ;q=1,\r\n"
        "content-encoding:GZIP\r\n"
        "TRANSFER-ENCODING:\tidentity,Chunked \r\n"
        "\r\n");
    ASSERT_TRUE(head.has_value());
    EXPECT_EQ(head->content_encoding, "deflate, gzip");
    EXPECT_EQ(head->transfer_codings, (std::vector<std::string>{"x-gzip", "identity", "chunked"}));
    EXPECT_TRUE(head->chunked);
    EXPECT_EQ(head->applied_codings(),
              (std::vector<std::string_view>{"deflate", "gzip", "x-gzip", "identity"}));

    auto chunked_first = parse_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n");
    ASSERT_TRUE(chunked_first.has_value());
    EXPECT_FALSE(chunked_first->chunked);
    EXPECT_EQ(chunked_first->applied_codings(),
              (std::vector<std::string_view>{"chunked", "gzip"}));

    auto empty = parse_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\n\r\n");
    ASSERT_TRUE(empty.has_value());
    EXPECT_TRUE(empty->transfer_codings.empty());
    EXPECT_FALSE(empty->chunked);
}

TEST(HttpMessage, ListTokens) {
    EXPECT_TRUE(list_has_token("h2c", "h2c"));
    EXPECT_TRUE(list_has_token("HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11", "irc"));
    EXPECT_TRUE(list_has_token(" websocket ", "websocket"));
    EXPECT_FALSE(list_has_token("websockets", "websocket"));
    EXPECT_FALSE(list_has_token("", "gzip"));
}

}  // namespace
}  // namespace pw::detect::http
