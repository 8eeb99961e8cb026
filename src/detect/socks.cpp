// SOCKS 4, 4a and 5. The handshake messages are short binary records whose lengths follow
// from their fields, so the detector requires each message to parse exactly and the
// server's reply to agree with the client's request (a method it offered, a reply code of
// its version). Once a CONNECT or BIND succeeds, the rest of the connection is the tunnelled
// protocol, which the other detectors identify.
#include "detect/socks.h"

#include <array>
#include <string>

#include "detect/detector.h"

namespace pw::detect {
namespace socks {
namespace {

constexpr size_t kMaxField = 255;

bool is_printable(uint8_t c) { return c >= 0x20 && c < 0x7F; }

bool is_host_char(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_' || c == ':';
}

// Reads a NUL-terminated string of `accept` bytes, at most kMaxField long, from `pos`.
template <class Accept>
Parsed::Status read_string(std::span<const uint8_t> data, size_t& pos, size_t min, Accept accept) {
    size_t start = pos;
    for (; pos < data.size() && data[pos] != 0; ++pos) {
        if (!accept(data[pos]) || pos - start >= kMaxField) return Parsed::kInvalid;
    }
    if (pos == data.size()) return Parsed::kIncomplete;
    if (pos - start < min) return Parsed::kInvalid;
    ++pos;
    return Parsed::kComplete;
}

Parsed complete(size_t length, uint8_t code) { return {Parsed::kComplete, length, code}; }
Parsed incomplete() { return {Parsed::kIncomplete, 0, 0}; }
Parsed invalid() { return {}; }

// Methods of RFC 1928 and the IANA registry (0x00-0x09), and the private range 0x80-0xFE.
bool is_method(uint8_t method) { return method <= 0x09 || (method >= 0x80 && method != 0xFF); }

// Version 5 request and reply: VER, CODE, RSV 0, ATYP, address, port.
Parsed parse_socks5_record(std::span<const uint8_t> data, uint8_t max_code) {
    if (data.empty()) return incomplete();
    if (data[0] != 5) return invalid();
    if (data.size() < 2) return incomplete();
    if (data[1] > max_code || (max_code == 3 && data[1] == 0)) return invalid();
    if (data.size() < 3) return incomplete();
    if (data[2] != 0) return invalid();
    if (data.size() < 4) return incomplete();
    if (data[3] != 1 && data[3] != 3 && data[3] != 4) return invalid();
    if (data.size() < 5) return incomplete();
    size_t address = 0;
    switch (data[3]) {
        case 1:
            address = 4;
            break;
        case 4:
            address = 16;
            break;
        case 3: {
            size_t name_length = data[4];
            if (name_length == 0) return invalid();
            address = 1 + name_length;
            size_t available = std::min(data.size(), 4 + address);
            for (size_t i = 5; i < available; ++i) {
                if (!is_host_char(data[i])) return invalid();
            }
            break;
        }
        default:
            return invalid();
    }
    size_t length = 4 + address + 2;
    if (data.size() < length) return incomplete();
    return complete(length, data[1]);
}

}  // namespace

Parsed parse_socks4_request(std::span<const uint8_t> data) {
    if (data.empty()) return incomplete();
    if (data[0] != 4) return invalid();
    if (data.size() < 2) return incomplete();
    uint8_t command = data[1];
    if (command != 1 && command != 2) return invalid();
    if (data.size() < 8) return incomplete();
    uint16_t port = static_cast<uint16_t>(data[2] << 8 | data[3]);
    bool is_4a = data[4] == 0 && data[5] == 0 && data[6] == 0 && data[7] != 0;
    bool no_address = data[4] == 0 && data[5] == 0 && data[6] == 0 && data[7] == 0;
    if ((command == 1 && port == 0) || no_address) return invalid();
    size_t pos = 8;
    Parsed::Status status = read_string(data, pos, 0, is_printable);
    if (status != Parsed::kComplete) return {status, 0, 0};
    if (is_4a) {
        status = read_string(data, pos, 1, is_host_char);
        if (status != Parsed::kComplete) return {status, 0, 0};
    }
    return complete(pos, command);
}

Parsed parse_socks4_reply(std::span<const uint8_t> data) {
    if (data.empty()) return incomplete();
    if (data[0] != 0) return invalid();
    if (data.size() < 2) return incomplete();
    if (data[1] < 90 || data[1] > 93) return invalid();
    if (data.size() < 8) return incomplete();
    return complete(8, data[1]);
}

Parsed parse_socks5_greeting(std::span<const uint8_t> data) {
    if (data.empty()) return incomplete();
    if (data[0] != 5) return invalid();
    if (data.size() < 2) return incomplete();
    size_t methods = data[1];
    if (methods == 0) return invalid();
    size_t available = std::min(data.size(), 2 + methods);
    for (size_t i = 2; i < available; ++i) {
        if (!is_method(data[i])) return invalid();
    }
    if (data.size() < 2 + methods) return incomplete();
    return complete(2 + methods, data[1]);
}

Parsed parse_socks5_method(std::span<const uint8_t> data) {
    if (data.empty()) return incomplete();
    if (data[0] != 5) return invalid();
    if (data.size() < 2) return incomplete();
    return complete(2, data[1]);
}

bool offers_method(std::span<const uint8_t> greeting, uint8_t method) {
    if (greeting.size() < 2) return false;
    size_t end = std::min(greeting.size(), 2 + size_t{greeting[1]});
    for (size_t i = 2; i < end; ++i) {
        if (greeting[i] == method) return true;
    }
    return false;
}

Parsed parse_socks5_request(std::span<const uint8_t> data) {
    return parse_socks5_record(data, 3);  // CONNECT, BIND, UDP ASSOCIATE
}

Parsed parse_socks5_reply(std::span<const uint8_t> data) {
    return parse_socks5_record(data, 8);  // succeeded, then the failures of RFC 1928 6
}

Parsed parse_password_request(std::span<const uint8_t> data) {
    if (data.empty()) return incomplete();
    if (data[0] != 1) return invalid();
    if (data.size() < 2) return incomplete();
    size_t user = data[1];
    if (user == 0) return invalid();
    if (data.size() < 3 + user) return incomplete();
    size_t password = data[2 + user];
    size_t length = 3 + user + password;
    if (data.size() < length) return incomplete();
    return complete(length, 0);
}

Parsed parse_password_reply(std::span<const uint8_t> data) {
    if (data.empty()) return incomplete();
    if (data[0] != 1) return invalid();
    if (data.size() < 2) return incomplete();
    return complete(2, data[1]);
}

}  // namespace socks

namespace {

using socks::Parsed;

// Handshake bytes kept per direction: a request with a 255-byte user id and a 255-byte
// host name fits.
constexpr size_t kMaxBuffered = 1024;
constexpr uint8_t kSocks4Granted = 90;
constexpr uint8_t kConnect = 1;
constexpr uint8_t kBind = 2;
constexpr uint8_t kNoAuthentication = 0x00;
constexpr uint8_t kUsernamePassword = 0x02;
constexpr uint8_t kNoAcceptableMethod = 0xFF;

enum class Stage : uint8_t {
    kRequest,  // the client's SOCKS 4 request or SOCKS 5 greeting
    kSocks4Reply,
    kSocks4SecondReply,  // BIND: the reply sent when the remote host connects
    kMethod,
    kPasswordRequest,
    kPasswordReply,
    kSocks5Request,
    kSocks5Reply,
    kSocks5SecondReply,
    kFinished,
};

struct SocksState : DetectorState {
    Stage stage = Stage::kRequest;
    std::string buffered[2];  // unread handshake bytes: client, server
    std::string greeting;
    uint8_t command = 0;
    bool tunnel_open = false;
};

std::span<const uint8_t> bytes_of(const std::string& text) {
    return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

class SocksDetector final : public Detector {
  public:
    std::string_view name() const override { return "socks"; }
    bool wants(Transport transport) const override { return transport == Transport::kTcp; }
    // The flow is classified at the method selection, before the request and reply.
    bool keeps_inspecting() const override { return true; }

    Verdict inspect(Session& session, const Segment& segment) override {
        const bool labeled = session.has(ProtocolId::SOCKS) || session.has(ProtocolId::SOCKS5);
        if (session.classified() && !labeled) return end(session, Verdict::kNotMine);
        auto& state = session.state<SocksState>(slot);
        std::string& buffer = state.buffered[segment.from_initiator ? 0 : 1];
        if (buffer.size() + segment.data.size() > kMaxBuffered) return stop(session);
        buffer.append(reinterpret_cast<const char*>(segment.data.data()), segment.data.size());

        for (;;) {
            Parsed::Status status = advance(session, state);
            if (status == Parsed::kIncomplete) return Verdict::kContinue;
            if (status == Parsed::kInvalid) return stop(session);
            if (state.stage == Stage::kFinished) {
                if (state.tunnel_open) session.open_inner_layer();
                return end(session, Verdict::kDone);
            }
        }
    }

  private:
    Verdict end(Session& session, Verdict verdict) {
        session.drop_state(slot);
        return verdict;
    }

    // Ends inspection on bytes that break the handshake: the flow is not SOCKS unless an
    // earlier exchange already showed it is.
    Verdict stop(Session& session) {
        bool labeled = session.has(ProtocolId::SOCKS) || session.has(ProtocolId::SOCKS5);
        return end(session, labeled ? Verdict::kDone : Verdict::kNotMine);
    }

    // Reads the message the current stage waits for, consumes it and moves on.
    static Parsed::Status advance(Session& session, SocksState& state) {
        std::string& client = state.buffered[0];
        std::string& server = state.buffered[1];
        switch (state.stage) {
            case Stage::kRequest:
                // The server sends nothing before the client's first message.
                if (!server.empty()) return Parsed::kInvalid;
                if (!client.empty() && client[0] == 4) {
                    return take(client, socks::parse_socks4_request(bytes_of(client)), state,
                                Stage::kSocks4Reply);
                }
                return take_greeting(state);
            case Stage::kSocks4Reply:
            case Stage::kSocks4SecondReply:
                return take_socks4_reply(session, state);
            case Stage::kMethod:
                return take_method(session, state);
            case Stage::kPasswordRequest:
                return take(client, socks::parse_password_request(bytes_of(client)), state,
                            Stage::kPasswordReply);
            case Stage::kPasswordReply: {
                Parsed reply = socks::parse_password_reply(bytes_of(server));
                bool accepted = reply.code == 0;
                return take(server, reply, state,
                            accepted ? Stage::kSocks5Request : Stage::kFinished);
            }
            case Stage::kSocks5Request:
                return take(client, socks::parse_socks5_request(bytes_of(client)), state,
                            Stage::kSocks5Reply);
            case Stage::kSocks5Reply:
            case Stage::kSocks5SecondReply:
                return take_socks5_reply(state);
            case Stage::kFinished:
                break;
        }
        return Parsed::kComplete;
    }

    // Consumes a complete message and moves to `next`, keeping its code as the command
    // when it is a request.
    static Parsed::Status take(std::string& buffer, const Parsed& message, SocksState& state,
                               Stage next) {
        if (message.status != Parsed::kComplete) return message.status;
        if (state.stage == Stage::kRequest || state.stage == Stage::kSocks5Request) {
            state.command = message.code;
        }
        buffer.erase(0, message.length);
        state.stage = next;
        return Parsed::kComplete;
    }

    static Parsed::Status take_greeting(SocksState& state) {
        std::string& client = state.buffered[0];
        Parsed greeting = socks::parse_socks5_greeting(bytes_of(client));
        if (greeting.status == Parsed::kComplete)
            state.greeting = client.substr(0, greeting.length);
        Parsed::Status status = take(client, greeting, state, Stage::kMethod);
        state.command = 0;
        return status;
    }

    static Parsed::Status take_socks4_reply(Session& session, SocksState& state) {
        Parsed reply = socks::parse_socks4_reply(bytes_of(state.buffered[1]));
        if (reply.status != Parsed::kComplete) return reply.status;
        session.add(ProtocolId::SOCKS);
        bool granted = reply.code == kSocks4Granted;
        bool wait_for_peer =
            granted && state.command == kBind && state.stage == Stage::kSocks4Reply;
        state.tunnel_open = granted && !wait_for_peer;
        return take(state.buffered[1], reply, state,
                    wait_for_peer ? Stage::kSocks4SecondReply : Stage::kFinished);
    }

    static Parsed::Status take_method(Session& session, SocksState& state) {
        Parsed selection = socks::parse_socks5_method(bytes_of(state.buffered[1]));
        if (selection.status != Parsed::kComplete) return selection.status;
        uint8_t method = selection.code;
        if (method != kNoAcceptableMethod &&
            !socks::offers_method(bytes_of(state.greeting), method)) {
            return Parsed::kInvalid;
        }
        session.add(ProtocolId::SOCKS5);
        Stage next = Stage::kFinished;  // no method, or one whose exchange is not followed
        if (method == kNoAuthentication) next = Stage::kSocks5Request;
        if (method == kUsernamePassword) next = Stage::kPasswordRequest;
        return take(state.buffered[1], selection, state, next);
    }

    static Parsed::Status take_socks5_reply(SocksState& state) {
        Parsed reply = socks::parse_socks5_reply(bytes_of(state.buffered[1]));
        if (reply.status != Parsed::kComplete) return reply.status;
        bool succeeded = reply.code == 0;
        // UDP ASSOCIATE carries its data in datagrams, outside this connection.
        bool tunnels = state.command == kConnect || state.command == kBind;
        bool wait_for_peer =
            succeeded && state.command == kBind && state.stage == Stage::kSocks5Reply;
        state.tunnel_open = succeeded && tunnels && !wait_for_peer;
        return take(state.buffered[1], reply, state,
                    wait_for_peer ? Stage::kSocks5SecondReply : Stage::kFinished);
    }
};

}  // namespace

std::unique_ptr<Detector> make_socks_detector() { return std::make_unique<SocksDetector>(); }

}  // namespace pw::detect
