// TFTP (RFC 1350, options of RFC 2347-2349 and RFC 7440). A read or write request goes to
// the server's well-known port, and the server replies from a new port, so the request
// flow announces the transfer flow. A transfer seen without its request is recognized by a
// DATA block and the ACK that names the same block from the other side.
#include "detect/tftp.h"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "content/transfer.h"
#include "detect/detector.h"

namespace pw::detect {
namespace tftp {
namespace {

constexpr size_t kMaxFileName = 512;
constexpr size_t kMaxOptionField = 64;
constexpr size_t kMaxOptions = 16;
// Largest block size that RFC 2348 allows.
constexpr size_t kMaxBlockSize = 65464;
constexpr uint16_t kMaxErrorCode = 8;  // RFC 2347 added 8, option negotiation failed

constexpr std::array<std::string_view, 3> kModes = {"netascii", "octet", "mail"};
// Options of RFC 2348, 2349, 2090, 7440 and the common rollover extension.
constexpr std::array<std::string_view, 6> kKnownOptions = {
    "blksize", "tsize", "timeout", "windowsize", "multicast", "rollover",
};

uint16_t read_u16(std::span<const uint8_t> data, size_t at) {
    return static_cast<uint16_t>(data[at] << 8 | data[at + 1]);
}

bool is_text(uint8_t c) { return c >= 0x20 && c != 0x7F; }

// Reads a NUL-terminated field of `min` to `max` bytes at `pos` and moves past it. Unless
// `any_bytes`, each must be text.
bool read_field(std::span<const uint8_t> data, size_t& pos, size_t min, size_t max,
                std::string_view* field = nullptr, bool any_bytes = false) {
    size_t start = pos;
    while (pos < data.size() && data[pos] != 0) {
        if ((!any_bytes && !is_text(data[pos])) || pos - start >= max) return false;
        ++pos;
    }
    if (pos == data.size() || pos - start < min) return false;
    if (field != nullptr) *field = {reinterpret_cast<const char*>(&data[start]), pos - start};
    ++pos;
    return true;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return (x | 0x20) == (y | 0x20);
           });
}

bool is_mode(std::string_view field) {
    return std::any_of(kModes.begin(), kModes.end(),
                       [field](std::string_view mode) { return equal_ignoring_case(field, mode); });
}

bool only_padding(std::span<const uint8_t> data, size_t pos) {
    return std::all_of(data.begin() + pos, data.end(), [](uint8_t c) { return c == 0; });
}

// Reads option name and value pairs to the end. With `known_only`, each name must be one
// of kKnownOptions, as in an OACK, which repeats only options the server accepted.
bool read_options(std::span<const uint8_t> data, size_t pos, bool known_only, size_t min_count) {
    size_t count = 0;
    while (pos < data.size() && !only_padding(data, pos)) {
        std::string_view name;
        if (++count > kMaxOptions || !read_field(data, pos, 1, kMaxOptionField, &name) ||
            !read_field(data, pos, 1, kMaxOptionField)) {
            return false;
        }
        if (known_only && std::none_of(kKnownOptions.begin(), kKnownOptions.end(),
                                       [name](std::string_view known) {
                                           return equal_ignoring_case(name, known);
                                       })) {
            return false;
        }
    }
    return count >= min_count;
}

bool is_request(std::span<const uint8_t> data) {
    size_t pos = 2;
    std::string_view mode;
    // A server takes the file name as bytes, so a client may put any in it but NUL. The
    // mode after it, one of three words, is what sets a request apart.
    return read_field(data, pos, 1, kMaxFileName, nullptr, true) &&
           read_field(data, pos, 1, kMaxOptionField, &mode) && is_mode(mode) &&
           read_options(data, pos, false, 0);
}

bool is_error(std::span<const uint8_t> data) {
    if (data.size() < 5 || read_u16(data, 2) > kMaxErrorCode) return false;
    size_t pos = 4;
    auto text = [](uint8_t c) { return is_text(c) || c == '\r' || c == '\n' || c == '\t'; };
    while (pos < data.size() && data[pos] != 0) {
        if (!text(data[pos])) return false;
        ++pos;
    }
    return pos < data.size() && only_padding(data, pos);
}

}  // namespace

Packet parse(std::span<const uint8_t> datagram) {
    Packet packet;
    if (datagram.size() < 4) return packet;
    packet.opcode = read_u16(datagram, 0);
    switch (packet.opcode) {
        case kReadRequest:
        case kWriteRequest:
            packet.valid = is_request(datagram);
            break;
        case kData:
            packet.valid = datagram.size() - 4 <= kMaxBlockSize;
            packet.block = read_u16(datagram, 2);
            packet.payload = datagram.subspan(4);
            break;
        case kAck:
            packet.valid = datagram.size() == 4;
            packet.block = read_u16(datagram, 2);
            break;
        case kError:
            packet.valid = is_error(datagram);
            break;
        case kOptionAck:
            packet.valid = read_options(datagram, 2, true, 1);
            break;
        default:
            break;
    }
    return packet;
}

bool is_loose_request(std::span<const uint8_t> datagram) {
    if (datagram.size() < 4 || datagram.back() != 0) return false;
    uint16_t opcode = read_u16(datagram, 0);
    if (opcode != kReadRequest && opcode != kWriteRequest) return false;
    // The mode is the last field, and a NUL ends the file name before it.
    size_t mode_end = datagram.size() - 1;
    size_t mode_start = mode_end;
    while (mode_start > 2 && datagram[mode_start - 1] != 0) --mode_start;
    if (mode_start <= 2) return false;
    std::string_view mode(reinterpret_cast<const char*>(&datagram[mode_start]),
                          mode_end - mode_start);
    if (!is_mode(mode)) return false;
    return std::all_of(datagram.begin() + 2, datagram.begin() + mode_start,
                       [](uint8_t c) { return c == 0 || (c >= 0x20 && c < 0x7F); });
}

}  // namespace tftp

namespace {

constexpr uint16_t kServerPort = 69;
// Datagrams an unlabeled flow may show before a DATA block meets its ACK.
constexpr uint32_t kMaxUnlabeledDatagrams = 8;
// Blocks shorter than this end a transfer at the default block size (RFC 1350).
constexpr size_t kDefaultBlockSize = 512;

struct TftpState : DetectorState {
    uint32_t datagrams = 0;
    // Evidence of a transfer not yet labeled: each side's last DATA and ACK block.
    std::optional<uint16_t> data_block[2];
    std::optional<uint16_t> ack_block[2];
    std::vector<uint8_t> first_data;  // the unconfirmed DATA block's file bytes

    std::optional<content::TransferScanner> scanner;
    uint16_t next_block = 1;
    size_t block_size = 0;
};

class TftpDetector final : public Detector {
  public:
    std::string_view name() const override { return "tftp"; }
    bool wants(Transport transport) const override { return transport == Transport::kUdp; }
    // DATA blocks go to the content scanner after the flow is labeled.
    bool keeps_inspecting() const override { return true; }

    Verdict inspect(Session& session, const Segment& segment) override {
        const bool labeled = session.has(ProtocolId::TFTP);
        if (session.classified() && !labeled) return end(session, Verdict::kNotMine);
        auto& state = session.state<TftpState>(slot);
        tftp::Packet packet = tftp::parse(segment.data);
        if (labeled) return follow_transfer(session, state, packet);

        if (++state.datagrams > kMaxUnlabeledDatagrams) return end(session, Verdict::kNotMine);
        if (!packet.valid) {
            bool loose = segment.from_initiator && session.responder_port() == kServerPort &&
                         tftp::is_loose_request(segment.data);
            if (!loose) return end(session, Verdict::kNotMine);
            accept_request(session);
            return Verdict::kContinue;
        }
        const int side = segment.from_initiator ? 0 : 1;
        switch (packet.opcode) {
            case tftp::kReadRequest:
            case tftp::kWriteRequest:
                // Only the client sends requests, as the flow's first words.
                if (!segment.from_initiator) return end(session, Verdict::kNotMine);
                accept_request(session);
                return Verdict::kContinue;
            case tftp::kOptionAck:
                session.add(ProtocolId::TFTP);
                return Verdict::kContinue;
            case tftp::kData:
                state.data_block[side] = packet.block;
                state.first_data.assign(packet.payload.begin(), packet.payload.end());
                // ACK n (block 0 acknowledges a write request) followed by DATA n + 1.
                if (state.ack_block[1 - side] &&
                    static_cast<uint16_t>(*state.ack_block[1 - side] + 1) == packet.block) {
                    return confirm_transfer(session, state, packet);
                }
                return Verdict::kContinue;
            case tftp::kAck:
                state.ack_block[side] = packet.block;
                if (state.data_block[1 - side] && *state.data_block[1 - side] == packet.block) {
                    tftp::Packet data{true, tftp::kData, packet.block, state.first_data};
                    return confirm_transfer(session, state, data);
                }
                return Verdict::kContinue;
            default:
                return Verdict::kContinue;  // ERROR: no evidence on its own
        }
    }

    void finish(Session& session) override {
        auto& state = session.state<TftpState>(slot);
        if (state.scanner) state.scanner->finish(session);
        session.drop_state(slot);
    }

  private:
    Verdict end(Session& session, Verdict verdict) {
        session.drop_state(slot);
        return verdict;
    }

    // Labels a request flow and announces its transfer: the server replies from a port of
    // its choosing to the client's port.
    static void accept_request(Session& session) {
        session.add(ProtocolId::TFTP);
        ExpectedFlow transfer;
        transfer.client = session.initiator();
        transfer.client_port = session.initiator_port();
        transfer.server = session.responder();
        transfer.server_port = 0;
        transfer.ip_protocol = decode::ip_protocol::kUdp;
        transfer.protocol = ProtocolId::TFTP;
        session.expect(transfer);
    }

    Verdict confirm_transfer(Session& session, TftpState& state, const tftp::Packet& data) {
        session.add(ProtocolId::TFTP);
        return follow_transfer(session, state, data);
    }

    // Feeds DATA blocks in block order to the content scanner until the short block that
    // ends the transfer, an ERROR, or a gap in the numbering.
    Verdict follow_transfer(Session& session, TftpState& state, const tftp::Packet& packet) {
        if (!packet.valid) return Verdict::kContinue;
        if (packet.opcode == tftp::kError) return close_transfer(session, state);
        if (packet.opcode != tftp::kData) return Verdict::kContinue;
        if (packet.block != state.next_block) {
            // A block already fed is a retransmission; one further on means blocks are lost.
            bool repeated = static_cast<uint16_t>(state.next_block - packet.block) < 0x8000;
            return repeated ? Verdict::kContinue : close_transfer(session, state);
        }
        if (!state.scanner) {
            state.scanner.emplace();
            state.block_size = packet.payload.size();
        }
        bool wants_more = state.scanner->feed(packet.payload, session);
        // The payload may be the kept copy itself: release it only after the feed.
        std::vector<uint8_t>().swap(state.first_data);
        ++state.next_block;
        // NOTE: a first block shorter than 512 bytes is taken as the whole file, which
        // ends early a transfer that negotiated a smaller block size (RFC 2348 allows 8).
        bool last = packet.payload.size() < state.block_size ||
                    (packet.block == 1 && packet.payload.size() < kDefaultBlockSize);
        if (!wants_more || last) return close_transfer(session, state);
        return Verdict::kContinue;
    }

    Verdict close_transfer(Session& session, TftpState& state) {
        if (state.scanner) state.scanner->finish(session);
        return end(session, Verdict::kDone);
    }
};

}  // namespace

std::unique_ptr<Detector> make_tftp_detector() { return std::make_unique<TftpDetector>(); }

}  // namespace pw::detect
