// XMPP (RFC 6120). A connection opens with a stream header in the Jabber namespaces. A flow
// first seen mid-stream shows stanzas instead, which are recognized by an XMPP namespace or
// by an iq request and the response that carries the same id.
#include "detect/xmpp.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {
namespace xmpp {
namespace {

// Namespaces only XMPP uses (RFC 6120, RFC 6121 and the XMPP extension protocols).
constexpr std::array<std::string_view, 5> kNamespaces = {
    "http://etherx.jabber.org/streams", "jabber:", "urn:xmpp:", "http://jabber.org/protocol/",
    "urn:ietf:params:xml:ns:xmpp-",
};

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view skip_space(std::string_view text) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    return text;
}

bool names_xmpp_namespace(std::string_view text) {
    for (std::string_view name : kNamespaces) {
        if (text.find(name) != std::string_view::npos) return true;
    }
    return false;
}

// True when `text` starts with the element `name` ("<iq", say) followed by a delimiter.
bool starts_element(std::string_view text, std::string_view name) {
    if (text.substr(0, name.size()) != name) return false;
    if (text.size() == name.size()) return true;
    char next = text[name.size()];
    return is_space(next) || next == '>' || next == '/';
}

// The start tag at the beginning of `text`, up to and including '>' when present.
std::string_view start_tag(std::string_view text) {
    size_t end = text.find('>');
    return end == std::string_view::npos ? text : text.substr(0, end + 1);
}

// The value of attribute `name` in a start tag, quoted with ' or ".
std::string_view attribute(std::string_view tag, std::string_view name) {
    for (size_t at = tag.find(name); at != std::string_view::npos; at = tag.find(name, at + 1)) {
        size_t quote = at + name.size() + 1;
        if (at == 0 || !is_space(tag[at - 1]) || quote >= tag.size() ||
            tag[at + name.size()] != '=') {
            continue;
        }
        char mark = tag[quote];
        if (mark != '\'' && mark != '"') continue;
        size_t end = tag.find(mark, quote + 1);
        if (end == std::string_view::npos) return {};
        return tag.substr(quote + 1, end - quote - 1);
    }
    return {};
}

}  // namespace

Opening classify_opening(std::string_view text) {
    text = skip_space(text);
    if (text.empty()) return Opening::kPending;
    if (text.front() != '<') return Opening::kNone;
    if (text.starts_with("<?xml")) {
        size_t end = text.find("?>");
        if (end == std::string_view::npos) return Opening::kPending;
        text = skip_space(text.substr(end + 2));
        if (text.empty()) return Opening::kPending;
    }
    if (starts_element(text, "<stream:stream") || starts_element(text, "<stream")) {
        std::string_view tag = start_tag(text);
        if (names_xmpp_namespace(tag)) return Opening::kStream;
        return tag.back() == '>' ? Opening::kNone : Opening::kPending;
    }
    if (text.starts_with("<stream:features") || text.starts_with("<stream:error") ||
        text.starts_with("</stream:stream>")) {
        return Opening::kStream;
    }
    if (starts_element(text, "<iq") || starts_element(text, "<message") ||
        starts_element(text, "<presence")) {
        return names_xmpp_namespace(text) ? Opening::kStanza : Opening::kPending;
    }
    // Stream negotiation: <starttls/>, <proceed/>, <auth/>, <success/> in the TLS and SASL
    // namespaces.
    std::string_view tag = start_tag(text);
    if (tag.find("urn:ietf:params:xml:ns:xmpp-") != std::string_view::npos) {
        return Opening::kStream;
    }
    return tag.back() == '>' ? Opening::kNone : Opening::kPending;
}

IqStanza read_iq(std::string_view text) {
    text = skip_space(text);
    IqStanza iq;
    if (!starts_element(text, "<iq")) return iq;
    std::string_view tag = start_tag(text);
    std::string_view type = attribute(tag, "type");
    if (type == "get" || type == "set") {
        iq.request = true;
    } else if (type != "result" && type != "error") {
        return iq;
    }
    iq.id = attribute(tag, "id");
    return iq;
}

}  // namespace xmpp

namespace {

using xmpp::Opening;

// Bytes of one direction kept while its opening is still undecided.
constexpr size_t kMaxHeadBytes = 2048;
constexpr uint32_t kMaxSegments = 8;
constexpr size_t kMaxPendingRequests = 4;
// Segments of a labeled stream read for the server's <proceed/> to STARTTLS, which comes
// in the stream negotiation before authentication (RFC 6120 section 5.3).
constexpr uint32_t kMaxSegmentsAfterLabel = 16;
constexpr std::string_view kTlsNamespace = "urn:ietf:params:xml:ns:xmpp-tls";

struct XmppState : DetectorState {
    std::string head[2];
    std::vector<std::string> request_ids[2];
    uint32_t segments = 0;
    bool labeled = false;
};

// Returns whether `text` contains a <proceed/> element of the STARTTLS namespace, with or
// without a namespace prefix. After it both parties start the TLS handshake (RFC 6120
// section 5.4.2.3).
bool has_tls_proceed(std::string_view text) {
    if (text.find(kTlsNamespace) == std::string_view::npos) return false;
    for (size_t at = text.find("proceed"); at != std::string_view::npos;
         at = text.find("proceed", at + 1)) {
        if (at > 0 && (text[at - 1] == '<' || text[at - 1] == ':')) return true;
    }
    return false;
}

class XmppDetector final : public Detector {
  public:
    std::string_view name() const override { return "xmpp"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    // Keeps reading its own streams for STARTTLS, after which the stream carries TLS.
    bool keeps_inspecting() const override { return true; }

    Verdict inspect(Session& session, const Segment& segment) override {
        auto& state = session.state<XmppState>(slot);
        if (session.classified() && !state.labeled) return reject(session);
        const int side = segment.from_initiator ? 0 : 1;
        if (state.labeled) return after_label(session, state, segment.data);
        std::string& head = state.head[side];
        std::string_view bytes(reinterpret_cast<const char*>(segment.data.data()),
                               segment.data.size());
        // The opening is judged on the start of the direction's bytes: a stream header may
        // span segments, and a later stanza may name the namespace that the first lacks.
        head.append(bytes.substr(0, kMaxHeadBytes - head.size()));
        switch (xmpp::classify_opening(head)) {
            case Opening::kStream:
            case Opening::kStanza:
                return accept(session, state, segment.data);
            case Opening::kNone:
                return reject(session);
            case Opening::kPending:
                break;
        }
        // Each segment of a stanza-aligned stream may start a new iq.
        if (matches_request(state, side, bytes)) return accept(session, state, segment.data);
        if (++state.segments >= kMaxSegments) return reject(session);
        return Verdict::kContinue;
    }

  private:
    // Records an iq request, or returns true for a response to one the peer sent.
    static bool matches_request(XmppState& state, int side, std::string_view text) {
        xmpp::IqStanza iq = xmpp::read_iq(text);
        if (iq.id.empty()) return false;
        if (!iq.request) {
            const auto& peer = state.request_ids[1 - side];
            return std::find(peer.begin(), peer.end(), iq.id) != peer.end();
        }
        auto& own = state.request_ids[side];
        if (own.size() < kMaxPendingRequests) own.emplace_back(iq.id);
        return false;
    }

    // Labels the stream, and looks at the segment that showed it as at the ones after.
    Verdict accept(Session& session, XmppState& state, std::span<const uint8_t> data) {
        session.add(ProtocolId::XMPP);
        state.labeled = true;
        state.segments = 0;
        state.head[0] = std::string();
        state.head[1] = std::string();
        state.request_ids[0] = {};
        state.request_ids[1] = {};
        return after_label(session, state, data);
    }

    // Watches the segments of a labeled stream for the server's <proceed/>, which a
    // client never sends: a flow seen mid-stream may have its ends swapped.
    Verdict after_label(Session& session, XmppState& state, std::span<const uint8_t> data) {
        std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
        if (has_tls_proceed(text)) {
            session.open_inner_layer();
            return Verdict::kDone;
        }
        if (++state.segments >= kMaxSegmentsAfterLabel) return Verdict::kDone;
        return Verdict::kContinue;
    }

    Verdict reject(Session& session) {
        session.drop_state(slot);
        return Verdict::kNotMine;
    }
};

}  // namespace

std::unique_ptr<Detector> make_xmpp_detector() { return std::make_unique<XmppDetector>(); }

}  // namespace pw::detect
