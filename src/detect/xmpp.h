#pragma once

#include <string_view>

namespace pw::detect::xmpp {

// The kind of opening that one direction's first bytes show.
enum class Opening : unsigned char {
    kNone,     // not XMPP
    kPending,  // an XML declaration or a stanza without a namespace: could still be XMPP
    kStream,   // a stream header (RFC 6120 section 4.7) or another stream-level element
    kStanza,   // an iq, message or presence stanza naming an XMPP namespace
};

// Classifies the start of `text` (leading whitespace allowed), which may end mid-element.
Opening classify_opening(std::string_view text);

// The id of an iq stanza at the start of `text` and whether it is a request (type get or
// set) or a response (result or error). Empty id when `text` starts with no such stanza.
struct IqStanza {
    std::string_view id;
    bool request = false;
};
IqStanza read_iq(std::string_view text);

}  // namespace pw::detect::xmpp
