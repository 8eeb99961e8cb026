#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_http_detector();

namespace {

using namespace std::string_view_literals;

enum Side : bool { kServer = false, kClient = true };

struct Recorded {
    Side side;
    std::string_view bytes;
};

// Three keep-alive transactions between curl 7.88.1 and a Python http.server on
// loopback, as tcpdump recorded them: an HTML page with a style and a script block, a
// gzip-coded JavaScript file in chunks, and a deflate-coded PNG image.
const Recorded kKeepAlive[] = {
    {kClient,
     "GET /page.html HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: curl/7.88.1\r\nAccep"
     "t: */*\r\nAccept-Encoding: gzip, deflate\r\n\r\n"sv},
    {kServer,
     "HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: Fri, 04 Dec 2026 00:4"
     "1:58 GMT\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 138\r\n\r\n"sv},
    {kServer,
     "<!DOCTYPE html>\n<html><head><title>t</title>\n<style>p{color:red}</style></head>\n<"
     "body><p>hi</p>\n<script>var x = 1;</script></body></html>\n"sv},
    {kClient,
     "GET /app.js HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: curl/7.88.1\r\nAccept: "
     "*/*\r\nAccept-Encoding: gzip, deflate\r\n\r\n"sv},
    {kServer,
     "HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: Fri, 04 Dec 2026 00:4"
     "1:58 GMT\r\nContent-Type: application/javascript\r\nContent-Encoding: gzip\r\nTransf"
     "er-Encoding: chunked\r\n\r\n"sv},
    {kServer,
     "28\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\x1d\x8c\xcd\x09\x80\x30\x0c\x46\xef"
     "\x99\xe2\xa3'Ep\x81\xa0\xbbH\rUh\x8d\xb4)\x08\xe2\xeeV\xcf\r\n28\r\n\xef\xc7\xd5\"("
     "\x96wo\x8e\xc9\xebQ\x0c!\x8b\x18&t\xc7\x92\xa4\xc7\x34\xe3&\xe0\x63\x1a\x65\x8c\x1a:"
     "\xb7I\x8c\n\x87\x01\xbf\xc3\r\n17\r\n\xf4\x30%]k\xe3r\x9d\x9a\xad\xb4\xfe\xff\x30"
     "\xbd\x63\x17\xd6Xc\x00\x00\x00\r\n0\r\n\r\n"sv},
    {kClient,
     "GET /dot.png HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: curl/7.88.1\r\nAccept:"
     " */*\r\nAccept-Encoding: gzip, deflate\r\n\r\n"sv},
    {kServer,
     "HTTP/1.1 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nDate: Fri, 04 Dec 2026 00:4"
     "1:58 GMT\r\nContent-Type: image/png\r\nContent-Encoding: deflate\r\nContent-Length: "
     "69\r\n\r\n"sv},
    {kServer,
     "x\x9c\xeb\x0c\xf0s\xe7\xe5\x92\xe2\x62``\xe0\xf5\xf4p\x09\x02\xd2\x8c \xcc\xc1\x06$"
     "\xe5\x45\x8ft\x82%\\\x1c\x43*n%\xa7\xfc\x38\x1f\xc0\xcf\xc0\xdc\xc6\xd8\x10\x65R\x9b"
     "\r\x94`\xf0t\xf5sY\xe7\x94\xd0\x04\x00\xba#\x0fO"sv},
};

// Hands segments to one detector the way the pipeline does: in order, each direction
// with its own stream offsets, none that the detector asked to skip, and no more once the
// detector returned a final verdict.
class Conversation {
  public:
    Conversation() : session_(Transport::kTcp, {}, 40000, {}, 80) { detector_->slot = 0; }

    Verdict send(Side side, std::string_view bytes) {
        if (verdict_ != Verdict::kContinue || bytes.empty()) return verdict_;
        uint64_t& offset = offsets_[side == kClient ? 0 : 1];
        Segment segment{{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                        side == kClient,
                        offset,
                        &packet_};
        offset += bytes.size();
        if (session_.skips(0, side == kClient, offset)) {
            ++skipped_;
            return verdict_;
        }
        verdict_ = detector_->inspect(session_, segment);
        if (verdict_ != Verdict::kContinue) session_.drop_state(0);
        return verdict_;
    }
    Verdict send_pieces(Side side, std::string_view bytes, size_t piece) {
        for (size_t at = 0; at < bytes.size(); at += piece) send(side, bytes.substr(at, piece));
        return verdict_;
    }
    // Skips `count` bytes of one direction, as a capture that lost packets would.
    void lose(Side side, uint64_t count) { offsets_[side == kClient ? 0 : 1] += count; }
    void finish() {
        if (verdict_ == Verdict::kContinue) detector_->finish(session_);
    }

    Session& session() { return session_; }
    bool has(ProtocolId id) const { return session_.has(id); }
    Verdict verdict() const { return verdict_; }
    // Segments not handed over because the detector asked to skip them.
    int skipped() const { return skipped_; }

  private:
    std::unique_ptr<Detector> detector_ = make_http_detector();
    Session session_;
    decode::Packet packet_;
    uint64_t offsets_[2] = {0, 0};
    int skipped_ = 0;
    Verdict verdict_ = Verdict::kContinue;
};

std::string gzip(std::string_view data, int window_bits = 16 + MAX_WBITS) {
    z_stream stream{};
    deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&stream, data.size()), '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    return out;
}

std::string response(std::string_view headers, std::string_view body) {
    return "HTTP/1.1 200 OK\r\n" + std::string(headers) +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// A response with the field lines `headers` and `body` sent as one chunk: `headers` must
// name chunked as the final transfer coding.
std::string chunked_response(std::string_view headers, std::string_view body) {
    char size[17];
    std::snprintf(size, sizeof size, "%zx", body.size());
    return "HTTP/1.1 200 OK\r\n" + std::string(headers) + "\r\n" + size + "\r\n" +
           std::string(body) + "\r\n0\r\n\r\n";
}

constexpr std::string_view kGet = "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n";
constexpr std::string_view kPage = "<html><head><title>x</title></head><body>hi</body></html>";
constexpr std::string_view kPng = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02"sv;

void expect_keep_alive_content(const Conversation& conversation) {
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML_CSS_BLOCK));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML_SCRIPT_BLOCK));
    EXPECT_TRUE(conversation.has(ProtocolId::FILE_JS));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));
}

TEST(HttpDetector, RecordedKeepAlive) {
    Conversation conversation;
    for (const Recorded& segment : kKeepAlive) {
        EXPECT_EQ(conversation.send(segment.side, segment.bytes), Verdict::kContinue);
    }
    expect_keep_alive_content(conversation);
}

TEST(HttpDetector, RecordedKeepAliveByteByByte) {
    Conversation conversation;
    for (const Recorded& segment : kKeepAlive)
        conversation.send_pieces(segment.side, segment.bytes, 1);
    expect_keep_alive_content(conversation);
}

TEST(HttpDetector, ResponseSeenFirst) {
    Conversation conversation;
    conversation.send(kServer, response("Content-Type: image/png\r\n", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, NotHttp) {
    Conversation tls;
    tls.send(kClient, "\x16\x03\x01\x00\x72\x01\x00\x00\x6e\x03\x01"sv);
    for (int i = 0; i < 10; ++i) tls.send(kServer, "\x17\x03\x03\x00\x10 0123456789abcdef"sv);
    EXPECT_EQ(tls.verdict(), Verdict::kNotMine);
    EXPECT_FALSE(tls.has(ProtocolId::HTTP));

    Conversation redis;
    redis.send(kClient, "GET mykey\r\n");
    redis.send(kServer, "$5\r\nhello\r\n");
    EXPECT_FALSE(redis.has(ProtocolId::HTTP));

    Conversation rtsp;
    rtsp.send(kClient, "OPTIONS rtsp://camera.test/live RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    rtsp.send(kServer, "RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n");
    EXPECT_FALSE(rtsp.has(ProtocolId::HTTP));
}

TEST(HttpDetector, LeavesFlowsOthersClassified) {
    Conversation conversation;
    conversation.session().add(ProtocolId::SSH);
    conversation.send(kClient, kGet);
    EXPECT_EQ(conversation.send(kServer, "SSH-2.0-OpenSSH_9.2p1\r\n"), Verdict::kNotMine);
    EXPECT_FALSE(conversation.has(ProtocolId::HTTP));
}

TEST(HttpDetector, StopsAfterClientSegmentsWithoutReply) {
    Conversation conversation;
    conversation.session().add(ProtocolId::SSH);
    for (int i = 0; i < 16; ++i) conversation.send(kClient, kGet);
    EXPECT_EQ(conversation.verdict(), Verdict::kNotMine);
    EXPECT_FALSE(conversation.has(ProtocolId::HTTP));
}

TEST(HttpDetector, HttpReplyToAnotherProtocol) {
    // A TLS client at an HTTP server: the client's hello in two segments, which the TLS
    // detector labeled, and the server's 400 response with an HTML page.
    Conversation conversation;
    conversation.session().add(ProtocolId::TLS);
    conversation.send(kClient, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv);
    conversation.send(kClient, std::string(500, '\x2a'));
    conversation.send(kServer,
                      "HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                      "Content-Length: " +
                          std::to_string(kPage.size()) + "\r\n\r\n" + std::string(kPage));
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
}

TEST(HttpDetector, NonHttpReplyEndsInspection) {
    Conversation conversation;
    conversation.session().add(ProtocolId::TLS);
    conversation.send(kClient, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv);
    EXPECT_EQ(conversation.send(kServer, "\x16\x03\x03\x00\x5a\x02\x00\x00\x56\x03\x03"sv),
              Verdict::kNotMine);
    EXPECT_FALSE(conversation.has(ProtocolId::HTTP));
}

TEST(HttpDetector, WebSocketUpgrade) {
    Conversation conversation;
    conversation.send(kClient,
                      "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade"
                      "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    EXPECT_FALSE(conversation.has(ProtocolId::WEBSOCKET));
    EXPECT_EQ(conversation.send(kServer,
                                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n\r\n\x81\x05hello"sv),
              Verdict::kDone);
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_TRUE(conversation.has(ProtocolId::WEBSOCKET));
}

TEST(HttpDetector, WebSocketRefused) {
    Conversation conversation;
    conversation.send(kClient, "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    conversation.send(kServer, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_FALSE(conversation.has(ProtocolId::WEBSOCKET));
}

TEST(HttpDetector, WebSocketFramesWithoutHandshake) {
    Conversation conversation;
    conversation.send(kServer, "\x81\x17Welcome, 192.168.43.1 !"sv);
    conversation.send(kClient, "\x81\x84\x01\x02\x03\x04\x75\x67\x70\x70"sv);
    conversation.send(kServer, "\x81\x03hey"sv);
    EXPECT_FALSE(conversation.has(ProtocolId::WEBSOCKET));
    conversation.send(kClient, "\x88\x82\x01\x02\x03\x04\x02\xea"sv);
    EXPECT_TRUE(conversation.has(ProtocolId::WEBSOCKET));
    EXPECT_FALSE(conversation.has(ProtocolId::HTTP));

    Conversation unmasked_both;
    for (int i = 0; i < 3; ++i) {
        unmasked_both.send(kServer, "\x81\x03hey"sv);
        unmasked_both.send(kClient, "\x81\x03you"sv);
    }
    EXPECT_FALSE(unmasked_both.has(ProtocolId::WEBSOCKET));
}

TEST(HttpDetector, H2cUpgrade) {
    Conversation conversation;
    conversation.send(kClient,
                      "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n");
    EXPECT_EQ(conversation.send(kServer,
                                "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                                "Upgrade: h2c\r\n\r\n"),
              Verdict::kDone);
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP2));
    EXPECT_FALSE(conversation.has(ProtocolId::WEBSOCKET));
}

TEST(HttpDetector, H2cPrefaceWithoutResponse) {
    Conversation conversation;
    conversation.send(kClient, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n");
    conversation.send(kClient, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0"sv);
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP2));
}

TEST(HttpDetector, TrackerRequests) {
    Conversation announce;
    announce.send(kClient,
                  "GET /announce?info_hash=%aa7i%c4S&peer_id=-TR2940-chho92c56pul&port=51413"
                  "&uploaded=0 HTTP/1.1\r\nHost: tracker.test\r\n\r\n");
    EXPECT_TRUE(announce.has(ProtocolId::HTTP));
    EXPECT_TRUE(announce.has(ProtocolId::BT_HTTP_TRACKER));

    Conversation scrape;
    scrape.send(kClient, "GET /tracker/scrape.php?info_hash=%aa7i HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(scrape.has(ProtocolId::BT_HTTP_TRACKER));

    Conversation page;
    page.send(kClient, "GET /news/announce HTTP/1.1\r\n\r\n");
    page.send(kClient, "GET /announce?info=x HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(page.has(ProtocolId::HTTP));
    EXPECT_FALSE(page.has(ProtocolId::BT_HTTP_TRACKER));
}

TEST(HttpDetector, ConnectOpensInnerLayer) {
    Conversation conversation;
    conversation.send(kClient,
                      "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n");
    EXPECT_TRUE(conversation.session().classified());
    conversation.send(kServer, "HTTP/1.1 200 Connection established\r\n\r\n");
    EXPECT_TRUE(conversation.session().take_inner_layer());
    EXPECT_FALSE(conversation.session().classified());
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    // The tunnel carries TLS, which another detector claims: this one steps back.
    conversation.session().add(ProtocolId::TLS);
    EXPECT_EQ(conversation.send(kClient, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv),
              Verdict::kNotMine);
}

TEST(HttpDetector, ConnectRefusedStaysHttp) {
    Conversation conversation;
    conversation.send(kClient, "CONNECT example.test:443 HTTP/1.1\r\n\r\n");
    conversation.send(kServer, "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: " +
                                   std::to_string(kPage.size()) + "\r\n\r\n" + std::string(kPage));
    EXPECT_FALSE(conversation.session().take_inner_layer());
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
}

TEST(HttpDetector, ClientLeavingHttpOpensInnerLayerAtOnce) {
    Conversation conversation;
    conversation.send(kClient, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n");
    conversation.send(kServer, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(conversation.send(kClient, "USER guest 0 * :Guest\r\n"), Verdict::kDone);
    EXPECT_TRUE(conversation.session().take_inner_layer());
    EXPECT_TRUE(conversation.session().take_inner_layer_here());  // this segment is the first
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
}

TEST(HttpDetector, UnansweredRequestKeepsTheConnectionHttp) {
    Conversation conversation;
    conversation.send(kClient, "GET / HTTP/1.1\r\nHost: example.test\r\n\r\n");
    conversation.send(kClient, "USER guest 0 * :Guest\r\n");
    EXPECT_FALSE(conversation.session().take_inner_layer());
}

TEST(HttpDetector, HeadResponseHasNoBody) {
    Conversation conversation;
    conversation.send(kClient, "HEAD /a.png HTTP/1.1\r\n\r\nGET /b.png HTTP/1.1\r\n\r\n");
    std::string head = "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 23\r\n\r\n";
    conversation.send(kServer, head + response("Content-Type: image/png\r\n", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, InterimResponses) {
    Conversation conversation;
    conversation.send(kClient, "PUT /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: " +
                                   std::to_string(kPng.size()) + "\r\n\r\n");
    conversation.send(kServer, "HTTP/1.1 100 Continue\r\n\r\n");
    conversation.send(kClient, kPng);
    conversation.send(kServer, response("Content-Type: text/html\r\n", kPage));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
}

TEST(HttpDetector, ChunkedExtensionsAndTrailers) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer,
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "6;name=value\r\n<html>\r\nA \r\n<body>hi</\r\n5\r\nbody>\r\n0\r\n"
                      "Expires: never\r\n\r\n");
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, ContentCodingsRemoved) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("Content-Encoding: gzip\r\n", gzip(kPage)));
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("Content-Encoding: deflate\r\n", gzip(kPng, -MAX_WBITS)));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));

    Conversation layered;
    layered.send(kClient, kGet);
    layered.send(kServer,
                 response("Content-Encoding: gzip, deflate\r\n", gzip(gzip(kPng), MAX_WBITS)));
    EXPECT_TRUE(layered.has(ProtocolId::IMAGE_PNG));
}

// A form upload as curl -F sends it: a text field, then a file part, then the close
// delimiter (RFC 7578).
std::string form_upload(std::string_view boundary, std::string_view file, std::string_view type) {
    std::string body = "--" + std::string(boundary) +
                       "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
                       "<html><head><title>not the file</title></head></html>\r\n--" +
                       std::string(boundary) +
                       "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\n"
                       "Content-Type: " +
                       std::string(type) + "\r\n\r\n" + std::string(file) + "\r\n--" +
                       std::string(boundary) + "--\r\n";
    return "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: multipart/form-data; "
           "boundary=" +
           std::string(boundary) + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
}

TEST(HttpDetector, FormUploadPartsAreContent) {
    Conversation conversation;
    conversation.send(kClient, form_upload("------------------------d74496d66958873e", kPng,
                                           "application/octet-stream"));
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    // The text field is a part of its own.
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
}

TEST(HttpDetector, FormUploadSplitAnywhere) {
    const std::string upload = form_upload("XyZ", kPng, "image/png");
    for (size_t piece : {1, 3, 7}) {
        Conversation conversation;
        conversation.send_pieces(kClient, upload, piece);
        EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG)) << piece;
    }
}

TEST(HttpDetector, FormUploadFileInLatePart) {
    // The file part after 40 empty fields, and after a part with 8 KB of header lines.
    std::string fields;
    for (int i = 0; i < 40; ++i) fields += "--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n";
    fields += "--B\r\nX-Padding: " + std::string(8192, 'p') + "\r\n\r\nlong\r\n";
    const std::string body =
        fields + "--B\r\nContent-Type: image/png\r\n\r\n" + std::string(kPng) + "\r\n--B--\r\n";
    Conversation conversation;
    conversation.send(kClient,
                      "POST /u HTTP/1.1\r\nContent-Type: multipart/form-data; "
                      "boundary=B\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, FormUploadLongBoundary) {
    Conversation conversation;
    conversation.send(kClient, form_upload(std::string(300, '-') + "x", kPng, "image/png"));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, NestedMultipartPartsAreContent) {
    // A form field holding files as a multipart/mixed part (RFC 2388), the first without a
    // declared type, and the second multipart itself down to a fifth level, which is scanned
    // as one object.
    std::string deep(
        "--L4\r\nContent-Type: image/gif\r\n\r\nGIF89a\x01\0\x01\0\0\0\0;\r\n--L4--"sv);
    for (int level = 3; level >= 2; --level) {
        const std::string inner = "L" + std::to_string(level + 1);
        const std::string own = "L" + std::to_string(level);
        deep = "--" + own + "\r\nContent-Type: multipart/mixed; boundary=" + inner + "\r\n\r\n" +
               deep + "\r\n--" + own + "--";
    }
    const std::string mixed =
        "--M\r\nContent-Disposition: file; filename=\"a\"\r\n\r\n" + std::string(kPng) +
        "\r\n--M\r\nContent-Type: multipart/mixed; boundary=L2\r\n\r\n" + deep + "\r\n--M--";
    const std::string body =
        "--F\r\nContent-Disposition: form-data; name=\"files\"\r\n"
        "Content-Type: multipart/mixed; boundary=M\r\n\r\n" +
        mixed + "\r\n--F--\r\n";
    const std::string upload =
        "POST /u HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=F\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    for (size_t piece : {size_t{1}, size_t{5}, upload.size()}) {
        Conversation conversation;
        conversation.send_pieces(kClient, upload, piece);
        EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG)) << piece;
        // The fifth level is not split, so its GIF is not at the start of an object.
        EXPECT_FALSE(conversation.has(ProtocolId::IMAGE_GIF)) << piece;
    }
}

// A part declared multipart whose content never shows its boundary, or reuses the outer
// one, is scanned as one object.
TEST(HttpDetector, MultipartPartWithoutItsBoundaryScanned) {
    for (const std::string& inner : {std::string("nope"), std::string("F")}) {
        const std::string body = "--F\r\nContent-Type: multipart/mixed; boundary=" + inner +
                                 "\r\n\r\n" + std::string(kPng) + "\r\n--F--\r\n";
        Conversation conversation;
        conversation.send(kClient,
                          "POST /u HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=F\r\n"
                          "Content-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body);
        EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG)) << inner;
    }
}

TEST(HttpDetector, FormUploadWrongBoundaryNotSplit) {
    // A body that never shows its declared boundary types nothing from the parts it seems
    // to have.
    std::string upload = form_upload("XyZ", kPng, "image/png");
    upload.replace(upload.find("boundary=XyZ"), 12, "boundary=QqQ");
    Conversation conversation;
    conversation.send(kClient, upload);
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_FALSE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, GzipFileIsContent) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("Content-Type: application/gzip\r\n", gzip(kPage)));
    EXPECT_TRUE(conversation.has(ProtocolId::FILE_GZIP));
    EXPECT_FALSE(conversation.has(ProtocolId::HTML));
}

TEST(HttpDetector, CodingThatFailsPassesThrough) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("Content-Encoding: gzip\r\n", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

// A PNG head followed by bytes that do not compress, so that its gzip form is larger than
// the first piece of coded input the body decoder keeps (4 KiB).
std::string large_png() {
    std::string png(kPng);
    uint32_t state = 12345;
    for (int i = 0; i < 20000; ++i) {
        state = state * 1103515245 + 12345;
        png.push_back(static_cast<char>(state >> 24));
    }
    return png;
}

TEST(HttpDetector, LargeCodedSegmentIsDecoded) {
    // A capture taken with TSO or GRO has segments of up to 64 KiB: the first may hold the
    // head and more than 4 KiB of the coded body.
    const std::string body = gzip(large_png());
    ASSERT_GT(body.size(), 4096u);
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("Content-Encoding: gzip\r\n", body));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));
}

TEST(HttpDetector, LargeSegmentWithoutCodingPassesThrough) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("Content-Encoding: gzip\r\n", large_png()));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, IrregularCodingHeaders) {
    // An obsolete line folding is not joined to the field: the body stays gzip data.
    Conversation folded;
    folded.send(kClient, kGet);
    folded.send(kServer, response("Content-Encoding:\r\n gzip\r\n", gzip(kPage)));
    EXPECT_TRUE(folded.has(ProtocolId::FILE_GZIP));

    // Field lines of one name make one list, in order (RFC 9110 section 5.3): the body is
    // gzip-coded, and identity stands for no coding.
    Conversation twice;
    twice.send(kClient, kGet);
    twice.send(kServer,
               response("Content-Encoding: gzip\r\nContent-Encoding: identity\r\n", gzip(kPage)));
    EXPECT_TRUE(twice.has(ProtocolId::HTML));
    EXPECT_FALSE(twice.has(ProtocolId::FILE_GZIP));

    Conversation split;
    split.send(kClient, kGet);
    split.send(kServer, response("Content-Encoding: gzip\r\nContent-Encoding: deflate\r\n",
                                 gzip(gzip(kPng), MAX_WBITS)));
    EXPECT_TRUE(split.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(split.has(ProtocolId::FILE_GZIP));

    Conversation bare_cr;
    bare_cr.send(kClient, kGet);
    bare_cr.send(kServer, response("X-A: 1\rContent-Encoding: gzip\r\n", gzip(kPage)));
    EXPECT_TRUE(bare_cr.has(ProtocolId::FILE_GZIP));
}

TEST(HttpDetector, DecompressionBombBounded) {
    std::string zeros(32u << 20, '\0');
    std::string bomb = gzip(zeros);
    zeros.clear();
    zeros.shrink_to_fit();
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send_pieces(kServer, response("Content-Encoding: gzip\r\n", bomb), 1460);
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

// Transfer codings are listed in the order they were applied, chunked last (RFC 9112
// section 7): the content is what remains once every one of them is removed.
TEST(HttpDetector, TransferCodingsRemoved) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer,
                      chunked_response("Transfer-Encoding: gzip, chunked\r\n", gzip(kPage)));
    conversation.send(kClient, kGet);
    conversation.send(kServer, chunked_response("Transfer-Encoding: deflate, chunked\r\n",
                                                gzip(kPng, MAX_WBITS)));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));

    // x-gzip is gzip (RFC 9112 section 7.2). Transfer codings were applied after the
    // content codings, so they come off first.
    Conversation layered;
    layered.send(kClient, kGet);
    layered.send(kServer, chunked_response(
                              "Content-Encoding: deflate\r\nTransfer-Encoding: x-gzip, chunked\r\n",
                              gzip(gzip(kPng, MAX_WBITS))));
    EXPECT_TRUE(layered.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(layered.has(ProtocolId::FILE_GZIP));
}

TEST(HttpDetector, TransferEncodingFieldVariants) {
    const std::string_view kFields[] = {
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "TRANSFER-ENCODING:GZIP ,\tChunked \r\n",
        "Transfer-Encoding: , gzip,,chunked\r\n",
        "Transfer-Encoding: gzip\r\nX-Other: 1\r\ntransfer-encoding: identity, chunked\r\n",
    };
    for (std::string_view fields : kFields) {
        SCOPED_TRACE(fields);
        Conversation conversation;
        conversation.send(kClient, kGet);
        conversation.send(kServer, chunked_response(fields, gzip(kPage)));
        conversation.send(kClient, kGet);
        conversation.send(kServer, response("", kPng));
        EXPECT_TRUE(conversation.has(ProtocolId::HTML));
        EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));
        EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    }
}

// Without chunked last, a response's body runs to the end of the connection, even with a
// Content-Length (RFC 9112 section 6.3).
TEST(HttpDetector, TransferCodingWithoutChunkedRunsToClose) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    std::string body = gzip(kPng);
    conversation.send(kServer,
                      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 4\r\n\r\n" +
                          body.substr(0, 10));
    conversation.send(kServer, body.substr(10));
    conversation.finish();
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));
}

// A coding that zlib cannot remove leaves the body untyped: its bytes are not the content.
TEST(HttpDetector, UnknownCodingLeavesBodyUntyped) {
    const std::string_view kFields[] = {
        "Transfer-Encoding: br, chunked\r\n",
        "Transfer-Encoding: gzip, compress, chunked\r\n",
        "Transfer-Encoding: chunked, chunked\r\n",
        "Content-Encoding: br\r\nTransfer-Encoding: chunked\r\n",
        "Content-Encoding: zstd, gzip\r\nTransfer-Encoding: chunked\r\n",
    };
    for (std::string_view fields : kFields) {
        SCOPED_TRACE(fields);
        Conversation conversation;
        conversation.send(kClient, kGet);
        conversation.send(kServer, chunked_response(fields, gzip(gzip(kPng))));
        conversation.finish();
        EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
        EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));
        EXPECT_FALSE(conversation.has(ProtocolId::IMAGE_PNG));
    }

    // More codings than BodySink removes: the ones it would remove do not reach the content.
    Conversation many;
    many.send(kClient, kGet);
    many.send(kServer,
              chunked_response(
                  "Content-Encoding: gzip, gzip, gzip\r\nTransfer-Encoding: gzip, chunked\r\n",
                  gzip(gzip(gzip(gzip(kPng))))));
    many.finish();
    EXPECT_FALSE(many.has(ProtocolId::FILE_GZIP));
    EXPECT_FALSE(many.has(ProtocolId::IMAGE_PNG));

    // chunked before another coding is not the framing: the body runs to the end.
    Conversation chunked_first;
    chunked_first.send(kClient, kGet);
    chunked_first.send(kServer,
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n" + gzip(kPage));
    chunked_first.finish();
    EXPECT_FALSE(chunked_first.has(ProtocolId::FILE_GZIP));
    EXPECT_FALSE(chunked_first.has(ProtocolId::HTML));
}

TEST(HttpDetector, UnknownCodingPassesBodyThrough) {
    // A browser keeps a body of a content coding it does not know as it came.
    for (std::string_view fields :
         {"Content-Encoding: x-foo\r\n", "Content-Encoding: identity\r\n"}) {
        SCOPED_TRACE(fields);
        Conversation conversation;
        conversation.send(kClient, kGet);
        conversation.send(
            kServer,
            chunked_response(std::string(fields) + "Transfer-Encoding: chunked\r\n", kPng));
        conversation.finish();
        EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    }
}

TEST(HttpDetector, RequestTransferCodings) {
    std::string body = gzip(kPng);
    char size[17];
    std::snprintf(size, sizeof size, "%zx", body.size());
    Conversation upload;
    upload.send(kClient, "POST /up HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" +
                             std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n");
    EXPECT_TRUE(upload.has(ProtocolId::IMAGE_PNG));
    EXPECT_FALSE(upload.has(ProtocolId::FILE_GZIP));

    // Without chunked last a request's body has no length a server can rely on (RFC 9112
    // section 6.3), so its bytes are not typed, and the next request is parsed from the
    // next segment that starts one.
    Conversation unframed;
    unframed.send(kClient, "POST /up HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body);
    unframed.send(kClient,
                  "PUT /f.7z HTTP/1.1\r\nContent-Length: 8\r\n\r\n7z\xbc\xaf\x27\x1c\0\x04"sv);
    EXPECT_TRUE(unframed.has(ProtocolId::HTTP));
    EXPECT_FALSE(unframed.has(ProtocolId::FILE_GZIP));
    EXPECT_FALSE(unframed.has(ProtocolId::IMAGE_PNG));
    EXPECT_TRUE(unframed.has(ProtocolId::FILE_7Z));
}

// A zlib stream of `blocks` empty stored blocks, 5 bytes each, that inflates to nothing.
std::string empty_deflate_blocks(size_t blocks) {
    std::string out = "\x78\x01";
    for (size_t i = 0; i < blocks; ++i) out.append("\x00\x00\x00\xff\xff"sv);
    out.append("\x01\x00\x00\xff\xff"sv);
    out.append("\x00\x00\x00\x01"sv);  // Adler-32 of no data
    return out;
}

// Each layer's output is bounded, not only the last one's: an outer coding that expands
// to a long inner stream that yields nothing must not be inflated to its end.
TEST(HttpDetector, InnerCodingOutputBounded) {
    std::string inner = empty_deflate_blocks(2u << 20);  // 10 MiB that inflate to nothing
    std::string body = gzip(inner);
    inner.clear();
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send_pieces(
        kServer, chunked_response("Transfer-Encoding: deflate, gzip, chunked\r\n", body), 1460);
    EXPECT_GT(conversation.skipped(), 0);
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

TEST(HttpDetector, UploadBodiesScanned) {
    Conversation conversation;
    conversation.send(kClient,
                      "PUT /f.7z HTTP/1.1\r\nContent-Length: 8\r\n\r\n7z\xbc\xaf\x27\x1c\0\x04"sv);
    conversation.send(kClient,
                      "POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "4\r\nRar!\r\n3\r\n\x1a\x07\0\r\n0\r\n\r\n"sv);
    EXPECT_TRUE(conversation.has(ProtocolId::FILE_7Z));
    EXPECT_TRUE(conversation.has(ProtocolId::FILE_RAR));
}

TEST(HttpDetector, TransactionBound) {
    // 128 transactions are read; a file after them is not examined.
    Conversation conversation;
    for (int i = 0; i < 127; ++i) {
        conversation.send(kClient, kGet);
        conversation.send(kServer, response("", "plain text"));
    }
    EXPECT_EQ(conversation.verdict(), Verdict::kContinue);
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
    for (int i = 0; i < 128; ++i) {
        conversation.send(kClient, kGet);
        conversation.send(kServer, response("", "plain text"));
    }
    EXPECT_NE(conversation.verdict(), Verdict::kContinue);
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("Content-Type: application/gzip\r\n", gzip(kPage)));
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_GZIP));
}

TEST(HttpDetector, GapInBodyKeepsFraming) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n");
    conversation.send(kServer, std::string(1000, 'a'));
    conversation.lose(kServer, 1000);
    conversation.send(kServer, std::string(1000, 'b'));
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("", kPng));
    EXPECT_TRUE(conversation.has(ProtocolId::IMAGE_PNG));
}

// The content scanner judges a body by its first 4096 bytes: the rest of it is skipped.
TEST(HttpDetector, BodyIsSkippedOnceJudged) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, "HTTP/1.1 200 OK\r\nContent-Length: 8000\r\n\r\n");
    for (int i = 0; i < 4; ++i) conversation.send(kServer, std::string(1024, 'z'));
    EXPECT_EQ(conversation.skipped(), 0);
    for (int i = 0; i < 3; ++i) conversation.send(kServer, std::string(1000, 'z'));
    conversation.send(kServer, std::string(8000 - 4096 - 3000, 'z'));  // the body's end
    EXPECT_EQ(conversation.skipped(), 4);

    // The next response is parsed from its first byte.
    conversation.send(kClient, kGet);
    conversation.send(kServer, response("", kPage));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
    EXPECT_EQ(conversation.verdict(), Verdict::kContinue);
}

TEST(HttpDetector, SegmentPastSkippedBodyIsRead) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kClient, kGet);
    conversation.send(kServer, "HTTP/1.1 200 OK\r\nContent-Length: 6000\r\n\r\n");
    for (int i = 0; i < 4; ++i) conversation.send(kServer, std::string(1024, 'z'));
    conversation.send(kServer, std::string(1000, 'z'));
    EXPECT_EQ(conversation.skipped(), 1);
    // The body's last bytes and the next response arrive in one segment.
    std::string tail(6000 - 4096 - 1000, 'z');
    conversation.send(kServer, tail + response("", kPage));
    EXPECT_EQ(conversation.skipped(), 1);
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
}

TEST(HttpDetector, ResynchronizesAfterGarbage) {
    Conversation conversation;
    conversation.send(kClient, "\xdd\0\0\0 GET /txt HTTP/1.1\r\n\r\n"sv);
    EXPECT_FALSE(conversation.has(ProtocolId::HTTP));
    conversation.send(kServer, response("", kPage));
    EXPECT_TRUE(conversation.has(ProtocolId::HTTP));
    EXPECT_TRUE(conversation.has(ProtocolId::HTML));
}

TEST(HttpDetector, StartLineAloneIsEnough) {
    Conversation unfinished;
    unfinished.send(kClient, "POST /form HTTP/1.0\r\nUser-Agent: Mozilla/1.0\r\n");
    EXPECT_TRUE(unfinished.has(ProtocolId::HTTP));

    Conversation long_target;
    long_target.send(kClient, "GET /videoplayback?id=" + std::string(400, 'x'));
    EXPECT_TRUE(long_target.has(ProtocolId::HTTP));

    Conversation short_prefix;
    short_prefix.send(kClient, "GET /videoplayback?id=");
    EXPECT_FALSE(short_prefix.has(ProtocolId::HTTP));
}

TEST(HttpDetector, BodyCutByFlowEnd) {
    Conversation conversation;
    conversation.send(kClient, kGet);
    conversation.send(kServer, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nBZh91AY&SY"sv);
    EXPECT_FALSE(conversation.has(ProtocolId::FILE_BZIP2));
    conversation.finish();
    EXPECT_TRUE(conversation.has(ProtocolId::FILE_BZIP2));
}

TEST(HttpDetector, MalformedInputDoesNotCrash) {
    uint32_t state = 99;
    auto next = [&state]() {
        state = state * 1103515245 + 12345;
        return state >> 16;
    };
    for (int round = 0; round < 300; ++round) {
        Conversation conversation;
        for (const Recorded& segment : kKeepAlive) {
            std::string bytes(segment.bytes);
            for (int flips = 0; flips < 3 && !bytes.empty(); ++flips) {
                bytes[next() % bytes.size()] = static_cast<char>(next());
            }
            if (next() % 4 == 0) bytes.resize(next() % (bytes.size() + 1));
            conversation.send_pieces(segment.side, bytes, 1 + next() % 64);
        }
        conversation.finish();
    }
    SUCCEED();
}

}  // namespace
}  // namespace pw::detect
