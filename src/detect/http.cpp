// HTTP/1.x by its request and status lines, with the content of every body of the first
// kMaxMessages messages, WebSocket and h2c upgrades, CONNECT tunnels and BitTorrent
// tracker requests. Each direction is parsed on its own, so a capture that starts with
// the server's bytes, or a side whose first message is malformed, is still recognized.

#include <array>
#include <deque>

#include "detect/detector.h"
#include "detect/http_stream.h"
#include "detect/http_websocket.h"

namespace pw::detect {
namespace {

using http::Framing;
using http::MessageHandler;
using http::MessageHead;

// Message heads (requests and responses) parsed per flow: 128 transactions. A bound keeps
// the cost of a long keep-alive connection of small requests finite, and a file sent after
// it is not examined.
constexpr uint32_t kMaxMessages = 256;
// Segments that start no message a direction of an unrecognized flow may hand over before
// the detector gives up on it: a capture that starts in the middle of a body finds the
// next message within a few. A flow seen from its middle waits longer while the other
// direction has sent nothing (kMaxSegmentsOneSided).
constexpr uint32_t kMaxSegmentsBeforeMessage = 8;
// Requests waiting for their response; older ones are forgotten.
constexpr size_t kMaxPendingRequests = 64;

struct PendingRequest {
    int direction = 0;
    bool head = false;
    bool connect = false;
    bool websocket = false;
    bool h2c = false;
};

// A tracker announce or scrape (BEP 3, BEP 48): GET of a path ending in /announce or
// /scrape (optionally .php) with an info_hash parameter, and for announce a peer_id.
bool is_tracker_request(const MessageHead& head) {
    if (head.method != "GET") return false;
    std::string_view target = head.target;
    size_t query_start = target.find('?');
    if (query_start == std::string_view::npos) return false;
    std::string_view path = target.substr(0, query_start);
    std::string_view query = target.substr(query_start);
    if (path.ends_with(".php")) path.remove_suffix(4);
    auto has_parameter = [query](std::string_view name) {
        for (char separator : {'?', '&'}) {
            if (query.find(std::string(1, separator) + std::string(name) + "=") !=
                std::string_view::npos)
                return true;
        }
        return false;
    };
    if (path.ends_with("/announce")) return has_parameter("info_hash") && has_parameter("peer_id");
    return path.ends_with("/scrape") && has_parameter("info_hash");
}

struct HttpState : DetectorState, MessageHandler {
    void on_start_line(int direction) override;
    Decision on_head(int direction, const MessageHead& head) override;
    void on_http2_preface(int direction) override;
    Decision on_request(int direction, const MessageHead& head);
    Decision on_response(int direction, const MessageHead& head);
    PendingRequest take_request(int direction);
    void tunnel();

    Session* session = nullptr;
    std::array<http::MessageStream, 2> streams;
    std::deque<PendingRequest> pending;
    http::WebSocketFrameTracker websocket_frames;
    uint32_t messages = 0;
    uint32_t passed_client_segments = 0;      // after another detector named the flow
    std::array<uint32_t, 2> segments{};       // per direction, while not labeled
    std::array<uint32_t, 2> lost_segments{};  // of those, segments that start no message
    bool labeled = false;  // HTTP was recorded in the flow's current layer
};

void HttpState::on_start_line(int /*direction*/) {
    session->add(ProtocolId::HTTP);
    labeled = true;
}

MessageHandler::Decision HttpState::on_head(int direction, const MessageHead& head) {
    on_start_line(direction);
    if (++messages >= kMaxMessages) {
        for (auto& stream : streams) stream.stop_after_message();
    }
    return head.line.is_request ? on_request(direction, head) : on_response(direction, head);
}

MessageHandler::Decision HttpState::on_request(int direction, const MessageHead& head) {
    if (is_tracker_request(head)) session->add(ProtocolId::BT_HTTP_TRACKER);
    PendingRequest request;
    request.direction = direction;
    request.head = head.method == "HEAD";
    request.connect = head.method == "CONNECT";
    request.websocket = http::list_has_token(head.upgrade, "websocket");
    request.h2c = http::list_has_token(head.upgrade, "h2c");
    if (pending.size() >= kMaxPendingRequests) pending.pop_front();
    pending.push_back(request);

    Decision decision;
    // A request without Content-Length or Transfer-Encoding has no body. One whose final
    // transfer coding is not chunked has no reliable length, so a server must reject it
    // with 400 and close (RFC 9112 section 6.3). Transfer-Encoding overrides Content-Length.
    if (head.chunked) {
        decision.framing = Framing::kChunked;
    } else if (!head.transfer_codings.empty()) {
        decision.framing = Framing::kUnframed;
        return decision;
    } else if (head.content_length.value_or(0) > 0) {
        decision.framing = Framing::kLength;
        decision.length = *head.content_length;
    }
    if (decision.framing != Framing::kNone) {
        decision.sink = std::make_unique<http::BodySink>(head.applied_codings(), head.content_type,
                                                         head.boundary);
    }
    return decision;
}

MessageHandler::Decision HttpState::on_response(int direction, const MessageHead& head) {
    PendingRequest request = take_request(direction);
    int status = head.line.status;
    Decision decision;
    if (status == 101) {
        // Switching Protocols: the server's Upgrade names what follows (RFC 9110 7.8).
        if (request.websocket || http::list_has_token(head.upgrade, "websocket"))
            session->add(ProtocolId::WEBSOCKET);
        if (request.h2c || http::list_has_token(head.upgrade, "h2c"))
            session->add(ProtocolId::HTTP2);
        tunnel();
        decision.framing = Framing::kTunnel;
        return decision;
    }
    if (status < 200) {
        // An interim response: the final one is still to come.
        pending.push_front(request);
        return decision;
    }
    if (request.connect && status < 300) {
        // The proxy's tunnel carries another protocol, which starts with the next segment.
        streams[1 - direction].restart(*session);
        labeled = false;
        segments = {};
        lost_segments = {};
        session->open_inner_layer();
        decision.framing = Framing::kInnerLayer;
        return decision;
    }
    if (request.head || status == 204 || status == 304) return decision;
    // A response whose final transfer coding is not chunked runs to the end of the
    // connection, even with a Content-Length (RFC 9112 section 6.3).
    if (head.chunked) {
        decision.framing = Framing::kChunked;
    } else if (head.content_length && head.transfer_codings.empty()) {
        decision.framing = Framing::kLength;
        decision.length = *head.content_length;
    } else {
        decision.framing = Framing::kUntilClose;
    }
    decision.sink =
        std::make_unique<http::BodySink>(head.applied_codings(), head.content_type, head.boundary);
    return decision;
}

PendingRequest HttpState::take_request(int direction) {
    // Without a request (a capture that starts mid-connection) a response is taken to
    // belong to a GET.
    if (pending.empty() || pending.front().direction == direction) return {};
    PendingRequest request = pending.front();
    pending.pop_front();
    return request;
}

void HttpState::on_http2_preface(int /*direction*/) {
    // The client of an h2c upgrade sends the preface once the server has accepted; a
    // capture may hold the preface without the 101 response.
    session->add(ProtocolId::HTTP2);
    tunnel();
}

void HttpState::tunnel() {
    for (auto& stream : streams) stream.tunnel(*session);
}

class HttpDetector final : public Detector {
  public:
    std::string_view name() const override { return "http"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    // Every message of a connection can carry content to identify.
    bool keeps_inspecting() const override { return true; }
    Verdict inspect(Session& session, const Segment& segment) override;
    void finish(Session& session) override;
};

Verdict HttpDetector::inspect(Session& session, const Segment& segment) {
    auto& state = session.state<HttpState>(slot);
    // Once another detector named the connection's protocol, only the server's first bytes
    // are read, because an HTTP server replies to a client it cannot parse with a status
    // line (a TLS client at an HTTP port gets 400 Bad Request). The client's segments
    // before that reply are passed over, up to kMaxSegmentsBeforeMessage of them.
    const bool answer_only = session.classified() && !state.labeled;
    // After messages of its own, the classified layer is one inside an HTTP tunnel.
    if (answer_only && state.messages > 0) return Verdict::kNotMine;
    if (answer_only) {
        if (!segment.from_initiator) {
            if (segment.offset != 0) return Verdict::kNotMine;
        } else if (++state.passed_client_segments >= kMaxSegmentsBeforeMessage) {
            return Verdict::kNotMine;
        } else {
            return Verdict::kContinue;
        }
    }
    state.session = &session;
    int direction = segment.from_initiator ? 0 : 1;
    const decode::Packet* packet = segment.packet;
    bool truncated = packet != nullptr && packet->payload.size() < packet->payload_length;
    http::MessageStream& stream = state.streams[direction];
    stream.consume(segment.data, segment.offset, truncated, direction, session, state);
    if (answer_only && !state.labeled) return Verdict::kNotMine;
    if (state.labeled && direction == 0 && state.pending.empty() && state.streams[0].left_http()) {
        // Every request was answered and the client goes on in another protocol: the
        // other detectors read the connection from this segment on.
        session.open_inner_layer_here();
        return Verdict::kDone;
    }
    if (state.streams[0].stopped() && state.streams[1].stopped()) {
        return state.labeled ? Verdict::kDone : Verdict::kNotMine;
    }
    if (state.labeled) {
        // The rest of a body whose content is identified need not be read.
        uint64_t skippable = stream.skippable_until();
        if (skippable > segment.offset + segment.data.size()) {
            stream.offer_skip();
            session.skip_until(slot, segment.from_initiator, skippable);
        }
        return Verdict::kContinue;
    }
    if (state.websocket_frames.add(direction, segment.data)) {
        session.add(ProtocolId::WEBSOCKET);
        return Verdict::kDone;
    }
    ++state.segments[direction];
    if (state.streams[direction].lost()) {
        const uint32_t limit = session.mid_stream() && state.segments[1 - direction] == 0
                                   ? kMaxSegmentsOneSided
                                   : kMaxSegmentsBeforeMessage;
        if (++state.lost_segments[direction] >= limit) return Verdict::kNotMine;
    }
    return Verdict::kContinue;
}

void HttpDetector::finish(Session& session) {
    auto& state = session.state<HttpState>(slot);
    for (auto& stream : state.streams) stream.finish(session);
}

}  // namespace

std::unique_ptr<Detector> make_http_detector() { return std::make_unique<HttpDetector>(); }

}  // namespace pw::detect
