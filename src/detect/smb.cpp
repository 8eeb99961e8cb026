// SMB over TCP: NetBIOS session service framing (port 139, recorded as NBTSS) or SMB's
// direct TCP transport (port 445), carrying SMB1 (SMB), SMB2/3 (SMB2) and SMB3 transform
// headers (SMB3_ENCRYPTED). The stream is followed message by message, within a bound, to
// find tree connects (SMB_TREE), named-pipe traffic (MSRPC when it is DCE/RPC,
// SMB_PIPEDATA_UNKNOWN otherwise) and the file data read and written, which goes to a
// content::TransferScanner so that the types of transferred files are recorded.

#include <algorithm>
#include <memory>
#include <optional>

#include "detect/detector.h"
#include "detect/netbios.h"
#include "detect/pdu_follower.h"
#include "detect/smb_messages.h"

namespace pw::detect {
namespace {

using smb::DataSink;
using smb::Magic;
using smb::magic_of;
using smb::SmbMessages;
using smb::SmbState;
using smb::Transfer;

// Session messages followed per flow, both directions together.
constexpr uint64_t kMaxMessagesFollowed = 20000;
// Bytes of a direction's first segment searched for an SMB header when the capture starts in
// the middle of a message.
constexpr size_t kMaxResyncBytes = 4096;
// Segments without a recognizable start before an unrecorded flow is given up.
constexpr int kMaxResyncAttempts = 4;

// Finds where an SMB message starts in a direction's first segment when the capture began
// in the middle of the stream: a session message header right before an SMB signature.
std::optional<size_t> find_message_start(std::span<const uint8_t> data) {
    auto starts_here = [&](size_t at) {
        auto header = netbios::parse_session_header(data.subspan(at));
        if (!header) return false;
        if (header->type != netbios::session_type::kMessage) {
            size_t end = at + netbios::kSessionHeaderSize + header->length;
            return end <= data.size() &&
                   netbios::valid_session_control(
                       *header, data.subspan(at + netbios::kSessionHeaderSize, header->length));
        }
        return magic_of(data.subspan(at + netbios::kSessionHeaderSize)) != Magic::kNone;
    };
    if (data.size() >= 8 && starts_here(0)) return 0;
    size_t limit = std::min(data.size(), kMaxResyncBytes);
    for (size_t at = 1; at + 8 <= limit; ++at) {
        if (data[at] == 0 && magic_of(data.subspan(at + 4)) != Magic::kNone && starts_here(at)) {
            return at;
        }
    }
    return std::nullopt;
}

class SmbDetector final : public Detector {
  public:
    std::string_view name() const override { return "smb"; }
    bool wants(Transport t) const override { return t == Transport::kTcp; }
    bool keeps_inspecting() const override { return true; }

    Verdict inspect(Session& session, const Segment& segment) override {
        auto& st = session.state<SmbState>(slot);
        if (session.classified() && !st.recorded) return give_up(session);
        int dir = segment.from_initiator ? 0 : 1;
        auto data = segment.data;
        if (segment.offset < st.resume[dir]) {
            // The segment begins inside a message whose rest was skipped.
            uint64_t skipped = st.resume[dir] - segment.offset;
            data = data.subspan(static_cast<size_t>(std::min<uint64_t>(skipped, data.size())));
        }

        // 1. Align the direction on a message boundary.
        if (!st.synced[dir]) {
            auto start = data.size() < 8 && !st.recorded ? std::optional<size_t>(0)
                                                         : find_message_start(data);
            if (!start) {
                if (st.recorded || ++st.resync_attempts < kMaxResyncAttempts) {
                    return Verdict::kContinue;
                }
                return give_up(session);
            }
            st.synced[dir] = true;
            data = data.subspan(*start);
        }

        // 2. Follow the messages.
        SmbMessages messages(session, st, dir);
        auto length_of = [](std::span<const uint8_t> head) -> std::optional<size_t> {
            auto header = netbios::parse_session_header(head);
            if (!header) return std::nullopt;
            return netbios::kSessionHeaderSize + header->length;
        };
        auto on_head = [&](std::span<const uint8_t> head, size_t total) {
            st.sink[dir] = {};
            if (messages.handle(head, total)) return true;
            st.bad = true;
            return false;
        };
        auto on_body = [&](std::span<const uint8_t> body, size_t offset) {
            feed_sink(session, st, dir, body, offset);
            return true;
        };
        auto status = st.follower[dir].feed(data, length_of, on_head, on_body);
        if (status != PduFollower::Status::kOk || st.bad) return stop(session, st);
        if (st.follower[0].messages() + st.follower[1].messages() >= kMaxMessagesFollowed) {
            return stop(session, st);
        }
        skip_rest_of_message(session, st, dir, segment.offset + segment.data.size());
        return Verdict::kContinue;
    }

    void finish(Session& session) override {
        auto& st = session.state<SmbState>(slot);
        finish_transfers(session, st);
        session.drop_state(slot);
    }

  private:
    // Lets the pipeline pass over the rest of the current message when no transfer needs
    // its bytes: file data whose type is known, or data of no transfer.
    void skip_rest_of_message(Session& session, SmbState& st, int dir, uint64_t end) {
        size_t left = st.follower[dir].body_left();
        if (!st.recorded || left == 0 || st.sink[dir].transfer >= 0) return;
        st.follower[dir].skip_body();
        st.resume[dir] = end + left;
        session.skip_until(slot, dir == 0, st.resume[dir]);
    }

    static void feed_sink(Session& session, SmbState& st, int dir, std::span<const uint8_t> body,
                          size_t offset) {
        DataSink& sink = st.sink[dir];
        if (sink.transfer < 0) return;
        size_t begin = std::max(offset, sink.begin);
        size_t end = std::min(offset + body.size(), sink.end);
        if (begin >= end) return;
        Transfer& t = st.transfers[sink.transfer];
        if (!t.scanner || !t.scanner->feed(body.subspan(begin - offset, end - begin), session)) {
            sink.transfer = -1;  // the scanner has what it needs: skip the rest
        }
    }

    static void finish_transfers(Session& session, SmbState& st) {
        for (auto& t : st.transfers) {
            if (t.scanner) t.scanner->finish(session);
            t.scanner.reset();
        }
    }

    Verdict stop(Session& session, SmbState& st) {
        bool recorded = st.recorded;
        finish_transfers(session, st);
        session.drop_state(slot);
        return recorded ? Verdict::kDone : Verdict::kNotMine;
    }

    Verdict give_up(Session& session) {
        session.drop_state(slot);
        return Verdict::kNotMine;
    }
};

}  // namespace

std::unique_ptr<Detector> make_smb_detector() { return std::make_unique<SmbDetector>(); }

}  // namespace pw::detect
