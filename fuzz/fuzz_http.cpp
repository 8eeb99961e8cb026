// Feeds one direction of an HTTP/1.x connection to the message parser, whose bodies go
// through the content decoders (chunked, gzip, deflate) to content identification. The
// first input byte picks the mode: even values parse a stream, odd values feed the body
// decoder directly with a list of codings chosen from the input.
//
// Stream input: [mode][then segments of [length][data]].
// Body input: [mode][codings][media type and boundary][then segments of [length][data]].

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "decode/packet.h"
#include "detect/http_body.h"
#include "detect/http_stream.h"
#include "detect/session.h"

namespace {

using namespace pw::detect;

// Codings in the order applied, as MessageHead::applied_codings() returns them.
const std::vector<std::string_view> kCodings[] = {
    {}, {"gzip"}, {"deflate"}, {"x-gzip"}, {"gzip", "deflate"}, {"deflate", "gzip"}, {"br"},
    {"identity"}, {"gzip", "identity", "deflate"}, {"gzip", "gzip", "gzip"}};
constexpr std::string_view kMediaTypes[] = {"", "text/html", "application/javascript",
                                            "application/octet-stream", "text/plain"};
// Multipart boundaries, the first for none: the body is then split into parts.
constexpr std::string_view kBoundaries[] = {"", "b", "--x", "------------------------d744"};

// Frames bodies as their heads declare, as the HTTP detector does, and decodes them all.
class Handler : public http::MessageHandler {
  public:
    void on_start_line(int) override {}
    void on_http2_preface(int) override {}
    Decision on_head(int, const http::MessageHead& head) override {
        Decision decision;
        if (head.chunked) {
            decision.framing = http::Framing::kChunked;
        } else if (!head.transfer_codings.empty()) {
            decision.framing =
                head.line.is_request ? http::Framing::kUnframed : http::Framing::kUntilClose;
        } else if (head.content_length) {
            decision.framing = http::Framing::kLength;
            decision.length = *head.content_length;
        } else if (!head.line.is_request) {
            decision.framing = http::Framing::kUntilClose;
        }
        if (head.upgrade == "websocket") decision.framing = http::Framing::kTunnel;
        decision.sink = std::make_unique<http::BodySink>(head.applied_codings(), head.content_type,
                                                         head.boundary);
        return decision;
    }
};

Session make_session() {
    const uint8_t client[4] = {10, 0, 0, 1};
    const uint8_t server[4] = {192, 0, 2, 80};
    return Session(Transport::kTcp, pw::decode::IpAddress::v4(client), 40000,
                   pw::decode::IpAddress::v4(server), 80);
}

// Calls `feed` with each [length][data] segment from `at` on, until `feed` returns false.
template <class Feed>
void for_each_segment(const uint8_t* data, size_t size, size_t at, Feed feed) {
    while (at < size) {
        size_t length = data[at++];
        if (length > size - at) length = size - at;
        if (!feed(std::span<const uint8_t>(data + at, length))) return;
        at += length;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    Session session = make_session();
    if (data[0] % 2 == 0) {
        http::MessageStream stream;
        Handler handler;
        uint64_t offset = 0;
        bool truncated = (data[0] & 2) != 0;
        for_each_segment(data, size, 1, [&](std::span<const uint8_t> segment) {
            stream.consume(segment, offset, truncated, 0, session, handler);
            offset += segment.size();
            return !stream.stopped();
        });
        stream.finish(session);
        return 0;
    }
    http::BodySink body(kCodings[data[1] % std::size(kCodings)],
                        kMediaTypes[data[2] % std::size(kMediaTypes)],
                        kBoundaries[data[2] / std::size(kMediaTypes) % std::size(kBoundaries)]);
    for_each_segment(data, size, 3,
                     [&](std::span<const uint8_t> segment) { return body.feed(segment, session); });
    body.finish(session);
    return 0;
}
