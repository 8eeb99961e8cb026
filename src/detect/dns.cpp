// DNS over UDP and TCP, and multicast DNS, by the structure of the message: header fields
// and counts, names with bounded labels and compression pointers, and questions and resource
// records that fit the message. Layouts: RFC 1035 section 4, RFC 6891 (the OPT record),
// RFC 7766 (the TCP length prefix) and RFC 6762 (multicast DNS).

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "detect/detector.h"

namespace pw::detect {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kMdnsPort = 5353;
// Datagrams per direction tried on the DNS port before the flow is given up.
constexpr uint64_t kMaxDatagrams = 4;
// NetBIOS name service (RFC 1002) and LLMNR (RFC 4795) use the DNS message format on
// their own ports; neither is DNS.
constexpr uint16_t kNetbiosNamePort = 137;
constexpr uint16_t kLlmnrPort = 5355;
constexpr uint16_t kTypeOpt = 41;
// Bounds on work per message: real messages hold a few dozen records at most.
constexpr uint32_t kMaxRecords = 256;
constexpr uint32_t kMaxPointerJumps = 16;
constexpr size_t kMaxNameLength = 255;
// Bytes of a TCP message kept until it is complete. The header and the question always fit
// in them, and a longer message is judged on what was kept.
constexpr size_t kMaxTcpBytes = 4096;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

enum class Parse : uint8_t {
    kValid,      // every section parsed
    kTruncated,  // the bytes ended inside the message, and all before them was valid
    kInvalid,
};

class MessageReader {
  public:
    explicit MessageReader(std::span<const uint8_t> message) : m_(message) {}

    // Skips the name at `at` and returns the offset after it. A compression pointer must
    // point before the name that contains it, so that names cannot loop.
    Parse skip_name(size_t& at) const {
        size_t pos = at;
        size_t length = 0;
        uint32_t jumps = 0;
        bool jumped = false;
        while (true) {
            if (pos >= m_.size()) return Parse::kTruncated;
            uint8_t label = m_[pos];
            if (label == 0) {
                if (!jumped) at = pos + 1;
                return Parse::kValid;
            }
            if ((label & 0xc0) == 0xc0) {
                if (pos + 1 >= m_.size()) return Parse::kTruncated;
                size_t target = static_cast<size_t>(label & 0x3f) << 8 | m_[pos + 1];
                if (target < kHeaderSize || target >= pos || ++jumps > kMaxPointerJumps)
                    return Parse::kInvalid;
                if (!jumped) at = pos + 2;
                jumped = true;
                pos = target;
                continue;
            }
            if ((label & 0xc0) != 0) return Parse::kInvalid;  // 0x40 and 0x80 are unused
            length += label + 1;
            if (length > kMaxNameLength) return Parse::kInvalid;
            pos += label + 1;
        }
    }

    Parse question(size_t& at) const {
        Parse name = skip_name(at);
        if (name != Parse::kValid) return name;
        if (at + 4 > m_.size()) return Parse::kTruncated;
        uint16_t type = be16(&m_[at]);
        uint16_t klass = be16(&m_[at + 2]) & 0x7fff;  // mDNS: the top bit requests a unicast reply
        at += 4;
        return type != 0 && valid_class(klass) ? Parse::kValid : Parse::kInvalid;
    }

    // Skips the record at `at`. With `any_type`, its type and class are not judged.
    Parse record(size_t& at, bool any_type) const {
        Parse name = skip_name(at);
        if (name != Parse::kValid) return name;
        if (at + 10 > m_.size()) return Parse::kTruncated;
        uint16_t type = be16(&m_[at]);
        uint16_t klass = be16(&m_[at + 2]) & 0x7fff;  // mDNS: the top bit flushes caches
        size_t rdlength = be16(&m_[at + 8]);
        at += 10;
        // The OPT pseudo-record carries the UDP payload size in its class field.
        if (!any_type && (type == 0 || (type != kTypeOpt && !valid_class(klass))))
            return Parse::kInvalid;
        if (rdlength > m_.size() - at) return Parse::kTruncated;
        at += rdlength;
        return Parse::kValid;
    }

  private:
    // IN, CH, HS, NONE and ANY.
    static bool valid_class(uint16_t klass) {
        return klass == 1 || klass == 3 || klass == 4 || klass == 254 || klass == 255;
    }

    std::span<const uint8_t> m_;
};

// How much of a message must be well-formed. Resolvers on the DNS port reply to odd and
// fuzzed queries too, so there the header's reserved values and the entries after the
// first are not judged. Elsewhere the whole message must be valid.
enum class Strictness : uint8_t { kDnsPort, kElsewhere };

struct Checked {
    Parse result = Parse::kInvalid;
    uint32_t entries = 0;  // questions and records parsed whole
};

// Validates a DNS message. `cut` is true when the bytes end before the message does (a
// capture's snapshot length, or a TCP message longer than the bytes kept).
Checked check_message(std::span<const uint8_t> m, bool cut, Strictness strictness) {
    Checked checked;
    if (m.size() < kHeaderSize) {
        if (cut) checked.result = Parse::kTruncated;
        return checked;
    }
    const uint8_t* h = m.data();
    bool strict = strictness == Strictness::kElsewhere;
    bool response = (h[2] & 0x80) != 0;
    uint8_t opcode = (h[2] >> 3) & 0x0f;
    uint8_t rcode = h[3] & 0x0f;
    bool z = (h[3] & 0x40) != 0;
    // QUERY, IQUERY, STATUS, NOTIFY (RFC 1996) and UPDATE (RFC 2136).
    bool known_opcode = opcode <= 2 || opcode == 4 || opcode == 5;
    if (strict && (!known_opcode || z || rcode > 10 || (!response && rcode != 0))) return checked;
    uint32_t questions = be16(h + 4);
    uint32_t records = uint32_t{be16(h + 6)} + be16(h + 8) + be16(h + 10);
    if (questions + records == 0) return checked;
    if (!response && opcode == 0 && questions == 0) return checked;
    // Elsewhere a query carries one question or a few, and the counts must fit a message: a
    // question takes at least 5 bytes and a record 11.
    if (strict && (questions > 32 || questions * 5 + records * 11 > 65535)) return checked;

    MessageReader reader(m);
    size_t at = kHeaderSize;
    uint32_t limit = questions + std::min(records, kMaxRecords);
    // On the DNS port the first question, or the first record of a message without one,
    // is enough.
    if (!strict) limit = 1;
    // The additional records of a query with a valid question may have any type and class.
    // DNSCrypt clients pad their certificate queries with a record of type 0 and class 0,
    // which Wireshark shows as "Unused".
    const bool any_additional = !response && questions > 0;
    const uint32_t first_additional = questions + be16(h + 6) + be16(h + 8);
    for (; checked.entries < limit; ++checked.entries) {
        uint32_t i = checked.entries;
        Parse result = i < questions ? reader.question(at)
                                     : reader.record(at, any_additional && i >= first_additional);
        if (result == Parse::kValid) continue;
        checked.result = result == Parse::kTruncated && cut ? Parse::kTruncated : Parse::kInvalid;
        return checked;
    }
    checked.result = Parse::kValid;
    return checked;
}

// True when a message is DNS: valid, or cut after at least its first entry, whole.
bool is_dns(std::span<const uint8_t> m, bool cut, Strictness strictness) {
    Checked checked = check_message(m, cut, strictness);
    return checked.result == Parse::kValid ||
           (checked.result == Parse::kTruncated && checked.entries > 0);
}

// RFC 1035 section 4.1.1 defines response codes 0 to 5.
constexpr uint8_t kMaxBasicRcode = 5;

// True when the header of a datagram on the DNS port is that of a plain query sent to the
// port or of a response sent from it. It judges messages whose entries cannot be: the
// capture's snapshot length cut them (a first IP fragment keeps a few header bytes), or
// they are damaged. Every header field present must agree: the QR bit with the direction,
// the standard QUERY opcode, the reserved Z bit clear, one question, and record counts
// that fit the datagram (none in a query but an OPT record). `wire_length` is the
// datagram's length on the wire; at least the ID and flags must be present.
bool is_plain_header(std::span<const uint8_t> m, size_t wire_length, bool to_dns_port) {
    if (m.size() < 4 || wire_length < kHeaderSize + 5) return false;
    if (m.size() < kHeaderSize && m.size() == wire_length) return false;
    bool response = (m[2] & 0x80) != 0;
    uint8_t opcode = (m[2] >> 3) & 0x0f;
    uint8_t rcode = m[3] & 0x0f;
    bool z = (m[3] & 0x40) != 0;
    if (response == to_dns_port || opcode != 0 || z) return false;
    if (response ? rcode > kMaxBasicRcode : rcode != 0) return false;
    if (m.size() < 6) return true;
    if (be16(m.data() + 4) != 1) return false;
    if (m.size() < kHeaderSize) return true;
    uint32_t answers = be16(m.data() + 6);
    uint32_t authority = be16(m.data() + 8);
    uint32_t additional = be16(m.data() + 10);
    if (!response) return answers == 0 && authority == 0 && additional <= 1;
    // A question takes at least 5 bytes and a record 11.
    return 5 + (answers + authority + additional) * 11 <= wire_length - kHeaderSize;
}

bool is_mdns_group(const decode::IpAddress& address) {
    static constexpr std::array<uint8_t, 4> kV4 = {224, 0, 0, 251};
    static constexpr std::array<uint8_t, 16> kV6 = {0xff, 0x02, 0, 0, 0, 0, 0, 0,
                                                    0,    0,    0, 0, 0, 0, 0, 0xfb};
    if (address.is_v6) return std::equal(kV6.begin(), kV6.end(), address.bytes.begin());
    return std::equal(kV4.begin(), kV4.end(), address.bytes.begin());
}

// A capture that starts inside a TCP connection may start inside a message, so each side
// of such a flow may fail this many times, each time starting again at its next segment.
constexpr uint8_t kMidStreamTries = 3;

struct DnsTcpState : DetectorState {
    std::array<std::vector<uint8_t>, 2> pending;
    std::array<uint8_t, 2> failures{};
};

class DnsDetector final : public Detector {
  public:
    std::string_view name() const override { return "dns"; }
    bool wants(Transport transport) const override {
        return transport == Transport::kUdp || transport == Transport::kTcp;
    }
    Verdict inspect(Session& session, const Segment& segment) override;

  private:
    Verdict inspect_udp(Session& session, const Segment& segment);
    Verdict inspect_tcp(Session& session, const Segment& segment);
};

bool uses_port(const Session& session, uint16_t port) {
    return session.initiator_port() == port || session.responder_port() == port;
}

Strictness strictness_of(const Session& session) {
    return uses_port(session, kDnsPort) ? Strictness::kDnsPort : Strictness::kElsewhere;
}

// Judges the bytes one side of a TCP flow sent so far, which start with a message's 2-byte
// length.
Parse check_tcp_messages(const Session& session, const std::vector<uint8_t>& bytes) {
    if (bytes.size() < 2) return Parse::kTruncated;
    size_t length = be16(bytes.data());
    if (length < kHeaderSize) return Parse::kInvalid;
    size_t have = bytes.size() - 2;
    if (have < kHeaderSize) return Parse::kTruncated;
    Strictness strictness = strictness_of(session);
    bool cut = have < length;
    if (cut && have < std::min(length, kMaxTcpBytes)) {
        // Decide early only when what is here is already invalid.
        std::span<const uint8_t> head(bytes.data() + 2, have);
        if (check_message(head, true, strictness).result == Parse::kInvalid) return Parse::kInvalid;
        return Parse::kTruncated;
    }
    std::span<const uint8_t> message(bytes.data() + 2, std::min(have, length));
    return is_dns(message, cut, strictness) ? Parse::kValid : Parse::kInvalid;
}

Verdict DnsDetector::inspect(Session& session, const Segment& segment) {
    if (session.classified()) return Verdict::kNotMine;
    // A client may send DNS from any port, 137 and 5355 included: only a flow that does not
    // use the DNS port is taken for NetBIOS or LLMNR.
    if ((uses_port(session, kNetbiosNamePort) || uses_port(session, kLlmnrPort)) &&
        !uses_port(session, kDnsPort)) {
        return Verdict::kNotMine;
    }
    return session.transport() == Transport::kUdp ? inspect_udp(session, segment)
                                                  : inspect_tcp(session, segment);
}

// True when the segment was sent to the DNS port rather than from it.
bool sent_to_dns_port(const Session& session, const Segment& segment) {
    if (segment.packet != nullptr) return segment.packet->target_port == kDnsPort;
    uint16_t port = segment.from_initiator ? session.responder_port() : session.initiator_port();
    return port == kDnsPort;
}

Verdict DnsDetector::inspect_udp(Session& session, const Segment& segment) {
    size_t wire_length = segment.data.size();
    if (segment.packet != nullptr) {
        wire_length = std::max<size_t>(wire_length, segment.packet->payload_length);
    }
    bool cut = wire_length > segment.data.size();
    Strictness strictness = strictness_of(session);
    bool dns = segment.data.size() >= kHeaderSize && is_dns(segment.data, cut, strictness);
    if (!dns && strictness == Strictness::kDnsPort) {
        dns = is_plain_header(segment.data, wire_length, sent_to_dns_port(session, segment));
    }
    if (!dns) {
        // On the DNS port a malformed datagram (a scanner's, a fuzzer's) may come first.
        bool retry = strictness == Strictness::kDnsPort && segment.offset + 1 < kMaxDatagrams;
        return retry ? Verdict::kContinue : Verdict::kNotMine;
    }
    // Multicast DNS: sent to its group, or from or to its port (RFC 6762 sections 3 and 6),
    // unless the other port is the DNS port: a query from port 5353 to a DNS server is DNS.
    bool mdns = (uses_port(session, kMdnsPort) && !uses_port(session, kDnsPort)) ||
                is_mdns_group(session.responder()) || is_mdns_group(session.initiator());
    session.add(mdns ? ProtocolId::MDNS : ProtocolId::DNS);
    return Verdict::kDone;
}

Verdict DnsDetector::inspect_tcp(Session& session, const Segment& segment) {
    auto& state = session.state<DnsTcpState>(slot);
    const size_t side = segment.from_initiator ? 0 : 1;
    if (state.failures[side] >= kMidStreamTries) return Verdict::kContinue;
    std::vector<uint8_t>& bytes = state.pending[side];
    size_t take = std::min(segment.data.size(), kMaxTcpBytes + 2 - bytes.size());
    bytes.insert(bytes.end(), segment.data.begin(), segment.data.begin() + take);
    switch (check_tcp_messages(session, bytes)) {
        case Parse::kValid:
            session.add(ProtocolId::DNS);
            session.drop_state(slot);
            return Verdict::kDone;
        case Parse::kTruncated:
            return Verdict::kContinue;
        case Parse::kInvalid:
            break;
    }
    // A flow seen from its start has its first message at the start of each side.
    if (!session.mid_stream()) return Verdict::kNotMine;
    bytes.clear();
    ++state.failures[side];
    const bool other_side_left = state.failures[1 - side] < kMidStreamTries;
    return state.failures[side] < kMidStreamTries || other_side_left ? Verdict::kContinue
                                                                     : Verdict::kNotMine;
}

}  // namespace

std::unique_ptr<Detector> make_dns_detector() { return std::make_unique<DnsDetector>(); }

}  // namespace pw::detect
