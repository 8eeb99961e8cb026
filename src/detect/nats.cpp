// The NATS client protocol (docs.nats.io, "Client Protocol"): CRLF-terminated text lines.
// The server opens with INFO and a JSON object, the client answers CONNECT and a JSON object,
// then PUB, SUB, MSG, PING and PONG follow. A flow is taken on INFO or CONNECT with the keys
// those objects carry, or on a PUB or MSG line whose payload has the announced length, in
// either direction, so that a flow first seen mid-stream is found too.

#include "detect/nats.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <string_view>

namespace pw::detect {
namespace {

// INFO can list the cluster's URLs. Longer first lines are not looked at.
constexpr size_t kMaxLine = 16 * 1024;
constexpr size_t kMaxPayload = 64 * 1024 * 1024;
constexpr uint32_t kMaxInconclusive = 4;

constexpr std::array<std::string_view, 8> kConnectKeys = {
    "\"verbose\"", "\"pedantic\"", "\"tls_required\"", "\"lang\"",
    "\"version\"", "\"protocol\"", "\"echo\"",         "\"no_responders\""};

std::string_view as_text(std::span<const uint8_t> data) {
    return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// Splits a PUB or MSG argument list on spaces and tabs. Returns the number of fields, or
// one more than `fields` holds when there are too many.
size_t split_fields(std::string_view args, std::array<std::string_view, 5>& fields) {
    size_t count = 0;
    size_t pos = 0;
    while (pos < args.size()) {
        while (pos < args.size() && (args[pos] == ' ' || args[pos] == '\t')) ++pos;
        if (pos == args.size()) break;
        size_t end = pos;
        while (end < args.size() && args[end] != ' ' && args[end] != '\t') ++end;
        if (count == fields.size()) return fields.size() + 1;
        fields[count++] = args.substr(pos, end - pos);
        pos = end;
    }
    return count;
}

bool valid_subject(std::string_view subject) {
    if (subject.empty() || subject.front() == '.' || subject.back() == '.') return false;
    for (char c : subject) {
        if (c <= ' ' || c == 0x7F) return false;
    }
    return true;
}

std::optional<size_t> parse_size(std::string_view text) {
    size_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// A JSON object on one line that contains at least `needed` of `keys`.
template <size_t N>
bool object_with_keys(std::string_view json, const std::array<std::string_view, N>& keys,
                      size_t needed) {
    if (json.size() < 2 || json.front() != '{' || json.back() != '}') return false;
    size_t found = 0;
    for (std::string_view key : keys) {
        if (json.find(key) != std::string_view::npos) ++found;
    }
    return found >= needed;
}

// PUB <subject> [reply-to] <size>, HPUB <subject> [reply-to] <header size> <size>,
// MSG <subject> <sid> [reply-to] <size>, HMSG <subject> <sid> [reply-to] <header size> <size>.
// The payload of `size` bytes and a CRLF follow the line, and `rest` is the part of them that
// the segment contains.
NatsLine classify_publication(std::string_view verb, std::string_view args, std::string_view rest) {
    std::array<std::string_view, 5> fields;
    size_t count = split_fields(args, fields);
    bool headers = verb.front() == 'H';
    bool delivery = verb.ends_with("MSG");
    size_t min = 2 + (delivery ? 1 : 0) + (headers ? 1 : 0);
    if (count < min || count > min + 1 || !valid_subject(fields[0])) return NatsLine::kNone;
    std::optional<size_t> size = parse_size(fields[count - 1]);
    if (!size || *size > kMaxPayload) return NatsLine::kNone;
    if (headers) {
        std::optional<size_t> header_size = parse_size(fields[count - 2]);
        if (!header_size || *header_size > *size) return NatsLine::kNone;
    }
    if (delivery && !parse_size(fields[1])) return NatsLine::kNone;  // the subscription id
    if (rest.size() < *size + 2) return NatsLine::kInconclusive;
    return rest.substr(*size, 2) == "\r\n" ? NatsLine::kMessage : NatsLine::kNone;
}

// Whether `text` starts as a NATS protocol line does: with a verb, or with the first
// letters of one when the segment ends that early.
bool starts_like_nats(std::string_view text) {
    constexpr std::array<std::string_view, 9> kVerbs = {
        "INFO ", "CONNECT ", "PUB ", "HPUB ", "MSG ", "HMSG ", "PING", "PONG", "+OK"};
    return std::any_of(kVerbs.begin(), kVerbs.end(), [&](std::string_view verb) {
        const size_t length = std::min(text.size(), verb.size());
        return length > 0 && text.substr(0, length) == verb.substr(0, length);
    });
}

// Whether `text` starts with a line that decides nothing by itself (PING, PONG, +OK).
bool is_keepalive(std::string_view text) {
    return text.starts_with("PING\r\n") || text.starts_with("PONG\r\n") ||
           text.starts_with("+OK\r\n");
}

// Whether the INFO line `line` has "tls_required" or "tls_available" set to true.
bool info_offers_tls(std::string_view line) {
    for (std::string_view key : {"\"tls_required\"", "\"tls_available\""}) {
        size_t at = line.find(key);
        if (at == std::string_view::npos) continue;
        std::string_view value = line.substr(at + key.size());
        while (!value.empty() && (value.front() == ' ' || value.front() == ':'))
            value.remove_prefix(1);
        if (value.starts_with("true")) return true;
    }
    return false;
}

class NatsState final : public DetectorState {
public:
    uint32_t inconclusive = 0;
    // The start of a line that a segment ended before its CRLF, by direction (0 from the
    // initiator), so that a sender cannot hide the protocol by splitting its lines.
    std::array<std::string, 2> unfinished;
};

class NatsDetector final : public Detector {
public:
    std::string_view name() const override { return "nats"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }

    Verdict inspect(Session& session, const Segment& segment) override {
        std::span<const uint8_t> data = segment.data;
        std::string* unfinished = nullptr;
        if (auto* state = session.find_state<NatsState>(slot)) {
            unfinished = &state->unfinished[segment.from_initiator ? 0 : 1];
            if (!unfinished->empty()) {
                const size_t room = kMaxLine + 2 - std::min(unfinished->size(), kMaxLine + 2);
                unfinished->append(as_text(data.first(std::min(data.size(), room))));
                data = {reinterpret_cast<const uint8_t*>(unfinished->data()), unfinished->size()};
            }
        }
        const NatsLine line = classify_nats(data);
        const std::string_view text = as_text(data);
        // A line, or the payload after a publication's line, may end in a later segment of
        // this direction.
        const bool line_waits = line == NatsLine::kNone &&
                                text.find("\r\n") == std::string_view::npos &&
                                starts_like_nats(text);
        const bool payload_waits = line == NatsLine::kInconclusive && !is_keepalive(text);
        if ((line_waits || payload_waits) && text.size() < kMaxLine) {
            auto& state = session.state<NatsState>(slot);
            std::string& kept = state.unfinished[segment.from_initiator ? 0 : 1];
            if (kept.data() != text.data()) kept.assign(text);
            return ++state.inconclusive >= kMaxInconclusive ? Verdict::kNotMine
                                                            : Verdict::kContinue;
        }
        if (unfinished != nullptr) unfinished->clear();
        switch (line) {
            case NatsLine::kMessage:
                session.add(ProtocolId::NATS);
                // A client of a server whose INFO requires or offers TLS may start the
                // handshake right after it, without CONNECT in clear: the next segment
                // starts an inner layer, which is NATS again when the client stays in clear.
                if (text.starts_with("INFO") && info_offers_tls(text.substr(0, text.find("\r\n"))))
                    session.open_inner_layer();
                return Verdict::kDone;
            case NatsLine::kInconclusive: {
                auto& state = session.state<NatsState>(slot);
                return ++state.inconclusive >= kMaxInconclusive ? Verdict::kNotMine
                                                                : Verdict::kContinue;
            }
            case NatsLine::kNone:
                break;
        }
        return Verdict::kNotMine;
    }
};

}  // namespace

namespace {

// Lines that decide nothing alone and after which classify_nats() reads the next line of
// the segment: a client may send CONNECT with few options, then SUB and PUB, before the
// server's INFO arrives.
constexpr int kMaxLeadingLines = 8;

NatsLine classify_lines(std::span<const uint8_t> data, int leading);

// The class of `rest`, which follows a line that decides nothing alone.
NatsLine after_inconclusive(std::span<const uint8_t> rest, int leading) {
    if (rest.empty() || leading >= kMaxLeadingLines) return NatsLine::kInconclusive;
    NatsLine next = classify_lines(rest, leading + 1);
    // A later line that is cut off or not NATS leaves the leading lines' verdict.
    return next == NatsLine::kMessage ? NatsLine::kMessage : NatsLine::kInconclusive;
}

NatsLine classify_lines(std::span<const uint8_t> data, int leading) {
    std::string_view text = as_text(data.first(std::min(data.size(), kMaxLine + 2)));
    size_t line_end = text.find("\r\n");
    if (line_end == std::string_view::npos) return NatsLine::kNone;
    std::string_view line = text.substr(0, line_end);
    std::span<const uint8_t> rest_bytes = data.subspan(line_end + 2);
    std::string_view rest = as_text(rest_bytes);
    if (line == "PING" || line == "PONG" || line == "+OK") {
        return after_inconclusive(rest_bytes, leading);
    }

    size_t space = line.find_first_of(" \t");
    if (space == std::string_view::npos) return NatsLine::kNone;
    std::string_view verb = line.substr(0, space);
    std::string_view args = line.substr(space + 1);
    while (!args.empty() && (args.front() == ' ' || args.front() == '\t')) args.remove_prefix(1);
    // nats-server ends its INFO line with a space before the CRLF.
    while (!args.empty() && (args.back() == ' ' || args.back() == '\t')) args.remove_suffix(1);

    if (verb == "INFO") {
        constexpr std::array<std::string_view, 1> kInfoKeys = {"\"server_id\""};
        return object_with_keys(args, kInfoKeys, 1) ? NatsLine::kMessage : NatsLine::kNone;
    }
    if (verb == "CONNECT") {
        if (object_with_keys(args, kConnectKeys, 2)) return NatsLine::kMessage;
        // A client that sets one option only ("verbose": false).
        if (object_with_keys(args, kConnectKeys, 1)) return after_inconclusive(rest_bytes, leading);
        return NatsLine::kNone;
    }
    if (verb == "PUB" || verb == "HPUB" || verb == "MSG" || verb == "HMSG") {
        return classify_publication(verb, args, rest);
    }
    // SUB <subject> [queue group] <sid>, after a line that decides nothing either.
    if (verb == "SUB" && leading > 0) {
        std::array<std::string_view, 5> fields;
        size_t count = split_fields(args, fields);
        if ((count == 2 || count == 3) && valid_subject(fields[0]) && parse_size(fields[count - 1]))
            return after_inconclusive(rest_bytes, leading);
    }
    return NatsLine::kNone;
}

}  // namespace

NatsLine classify_nats(std::span<const uint8_t> data) { return classify_lines(data, 0); }

std::unique_ptr<Detector> make_nats_detector() { return std::make_unique<NatsDetector>(); }

}  // namespace pw::detect
