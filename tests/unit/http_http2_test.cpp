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
    EXPECT_EQ(flow.send(true, std::string(kPreface) + std::string(kSettings)), Verdict::kDone);
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

}  // namespace
}  // namespace pw::detect
