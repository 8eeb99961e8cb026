#include <gtest/gtest.h>

#include <string>

#include "detect/detector.h"

namespace pw::detect {

std::unique_ptr<Detector> make_http2_detector();

namespace {

using namespace std::string_view_literals;

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// A SETTINGS frame with one setting (MAX_CONCURRENT_STREAMS 100).
constexpr std::string_view kSettings = "\0\0\x06\x04\0\0\0\0\0\0\x03\0\0\0\x64"sv;

class Flow {
  public:
    Flow() : session_(Transport::kTcp, {}, 50000, {}, 80) { detector_->slot = 0; }

    Verdict send(bool from_client, std::string_view bytes) {
        if (verdict_ != Verdict::kContinue) return verdict_;
        uint64_t& offset = offsets_[from_client ? 0 : 1];
        Segment segment{{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                        from_client,
                        offset,
                        &packet_};
        offset += bytes.size();
        verdict_ = detector_->inspect(session_, segment);
        return verdict_;
    }
    bool has_http2() const { return session_.has(ProtocolId::HTTP2); }
    Session& session() { return session_; }

  private:
    std::unique_ptr<Detector> detector_ = make_http2_detector();
    Session session_;
    decode::Packet packet_;
    uint64_t offsets_[2] = {0, 0};
    Verdict verdict_ = Verdict::kContinue;
};

TEST(HttpHttp2, ClientPreface) {
    Flow flow;
    EXPECT_EQ(flow.send(true, std::string(kPreface) + std::string(kSettings)), Verdict::kContinue);
    EXPECT_TRUE(flow.has_http2());
    EXPECT_FALSE(flow.session().has(ProtocolId::HTTP));
}

TEST(HttpHttp2, PrefaceSplitAcrossSegments) {
    Flow flow;
    flow.send(true, kPreface.substr(0, 5));
    EXPECT_FALSE(flow.has_http2());
    flow.send(true, kPreface.substr(5));
    EXPECT_TRUE(flow.has_http2());
}

TEST(HttpHttp2, ServerSettingsBeforePreface) {
    Flow flow;
    EXPECT_EQ(flow.send(false, kSettings), Verdict::kContinue);
    flow.send(true, kPreface);
    EXPECT_TRUE(flow.has_http2());
}

TEST(HttpHttp2, FramesAloneAreNotEnough) {
    Flow flow;
    for (int i = 0; i < 10; ++i) {
        flow.send(false, kSettings);
        flow.send(true, kSettings);
    }
    EXPECT_FALSE(flow.has_http2());
    EXPECT_EQ(flow.send(true, kPreface), Verdict::kNotMine);
}

TEST(HttpHttp2, OtherProtocols) {
    Flow tls;
    EXPECT_EQ(tls.send(true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"sv), Verdict::kNotMine);
    Flow bad_settings;
    EXPECT_EQ(bad_settings.send(false, "\0\0\x05\x04\0\0\0\0\0abcde"sv), Verdict::kNotMine);
    Flow classified;
    classified.session().add(ProtocolId::HTTP);
    EXPECT_EQ(classified.send(true, kPreface), Verdict::kNotMine);
    EXPECT_FALSE(classified.has_http2());
}

TEST(HttpHttp2, PrefaceLaterInStreamIgnored) {
    Flow flow;
    flow.send(true, "\0\0\0\x04\0\0\0\0\0"sv);
    flow.send(true, kPreface);
    EXPECT_FALSE(flow.has_http2());
}

// A DNS query for example.com, type A, as DNS over HTTPS posts it.
constexpr std::string_view kDnsQuery =
    "\0\0\x01\0\0\x01\0\0\0\0\0\0\x07"
    "example\x03"
    "com\0\0\x01\0\x01"sv;

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, std::string_view payload) {
    std::string out;
    out.push_back(static_cast<char>(payload.size() >> 16));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size()));
    out.push_back(static_cast<char>(type));
    out.push_back(static_cast<char>(flags));
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>(stream >> shift));
    return out + std::string(payload);
}

TEST(HttpHttp2, DnsInDataFrame) {
    Flow flow;
    flow.send(true, std::string(kPreface) + std::string(kSettings));
    flow.send(false, kSettings);
    flow.send(true, frame(1, 0x04, 1, "\x83\x86\x84"));
    EXPECT_FALSE(flow.session().has(ProtocolId::DNS));
    std::string data = frame(0, 0x01, 1, kDnsQuery);
    flow.send(true, data.substr(0, 10));
    EXPECT_EQ(flow.send(true, data.substr(10)), Verdict::kDone);
    EXPECT_TRUE(flow.has_http2());
    EXPECT_TRUE(flow.session().has(ProtocolId::DNS));
}

TEST(HttpHttp2, PaddedDataFrame) {
    Flow flow;
    flow.send(true, kPreface);
    std::string padded = std::string("\x03") + std::string(kDnsQuery) + std::string(3, '\0');
    flow.send(true, frame(0, 0x09, 1, padded));
    EXPECT_TRUE(flow.session().has(ProtocolId::DNS));
}

TEST(HttpHttp2, OtherDataIsNotDns) {
    Flow flow;
    flow.send(true, kPreface);
    flow.send(false, kSettings);
    flow.send(false, frame(0, 0x01, 1, "{\"status\": 0, \"answer\": []}"));
    flow.send(false, frame(0, 0x01, 3, std::string(100, 'A')));
    EXPECT_TRUE(flow.has_http2());
    EXPECT_FALSE(flow.session().has(ProtocolId::DNS));
    EXPECT_EQ(flow.send(true, "x"), Verdict::kContinue);
}

// A GIF image, enough of it for its signature and screen descriptor.
constexpr std::string_view kGif = "GIF89a\x01\0\x01\0\x80\0\0\xff\xff\xff\0\0\0,"sv;
// A gzip member header, as a compressed response body starts.
constexpr std::string_view kGzip = "\x1f\x8b\x08\0\0\0\0\0\0\x03"sv;

// The DATA of each stream is a body whose file type is recorded, across frames and with
// padding.
TEST(HttpHttp2, BodiesOfStreamsIdentified) {
    Flow flow;
    flow.send(false, kSettings);
    flow.send(true, std::string(kPreface) + std::string(kSettings));
    flow.send(false, frame(1, 0x04, 1, "\x88"));
    flow.send(false, frame(0, 0x00, 1, kGif.substr(0, 4)));
    flow.send(false, frame(0, 0x09, 1, "\x02" + std::string(kGif.substr(4)) + "\0\0"));
    EXPECT_TRUE(flow.session().has(ProtocolId::IMAGE_GIF));
    flow.send(false, frame(0, 0x01, 3, std::string(kGzip) + std::string(40, '\x11')));
    EXPECT_FALSE(flow.session().has(ProtocolId::FILE_GZIP)) << "a compressed page";
}

// After an h2c upgrade the server's frames start behind its 101 response.
TEST(HttpHttp2, FramesAfterUpgrade) {
    Flow flow;
    flow.send(true,
              "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
              "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n");
    flow.session().add(ProtocolId::HTTP);
    flow.send(false,
              "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
              "Upgrade: h2c\r\n\r\n" +
                  std::string(kSettings) + frame(1, 0x04, 1, "\x88"));
    flow.send(true, std::string(kPreface) + std::string(kSettings));
    EXPECT_EQ(flow.send(false, frame(0, 0x01, 1, kGif)), Verdict::kContinue);
    EXPECT_TRUE(flow.session().has(ProtocolId::IMAGE_GIF));

    // A server that responds in HTTP/1.1 rejected the upgrade: its body is not frames.
    Flow rejected;
    rejected.send(true, "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nHTTP2-Settings: AA\r\n\r\n");
    rejected.session().add(ProtocolId::HTTP);
    EXPECT_EQ(rejected.send(false, "HTTP/1.1 200 OK\r\nContent-Length: 90\r\n\r\n"),
              Verdict::kNotMine);
}

}  // namespace
}  // namespace pw::detect
