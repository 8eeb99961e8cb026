#pragma once

// Internal to the SMB detector: the per-flow state and the parser of SMB1 and SMB2 messages
// (smb_messages.cpp) that the detector's stream follower (smb.cpp) hands each message to.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "content/transfer.h"
#include "detect/netbios.h"
#include "detect/pdu_follower.h"
#include "detect/session.h"

namespace pw::detect::smb {

// Bytes of each session message gathered before it is parsed: room for a compound SMB2
// request's first headers and for the start of the data of a read, write or transaction.
inline constexpr size_t kHeadBytes = 4 + 1024;
inline constexpr size_t kMaxTrees = 16;
inline constexpr size_t kMaxPendingReads = 32;
inline constexpr size_t kMaxConcurrentTransfers = 4;

enum class Magic : uint8_t { kNone, kSmb1, kSmb2, kTransform, kCompressed };

// Which SMB header signature `d` starts with.
Magic magic_of(std::span<const uint8_t> d);

using FileId = std::array<uint8_t, 16>;

struct Transfer {
    FileId file{};
    uint64_t next_offset = 0;
    std::optional<content::TransferScanner> scanner;
};

struct PendingRead {
    uint64_t key = 0;
    FileId file{};
    uint64_t offset = 0;
    uint32_t tree = 0;
};

struct Tree {
    uint32_t id = 0;
    bool pipe = false;
};

// Data of the current message that goes to a transfer: bytes [begin, end) of the message.
struct DataSink {
    int transfer = -1;
    size_t begin = 0;
    size_t end = 0;
};

// Where data read or written lies in a message, and what it belongs to.
struct DataRef {
    size_t begin = 0;  // offset in the SMB message
    size_t length = 0;
    uint32_t tree = 0;
    FileId file{};
    uint64_t offset = 0;  // in the file
    bool file_known = true;
};

struct SmbState : DetectorState {
    PduFollower follower[2] = {PduFollower(netbios::kSessionHeaderSize, kHeadBytes),
                               PduFollower(netbios::kSessionHeaderSize, kHeadBytes)};
    DataSink sink[2];
    // Stream offset where each direction resumes after the rest of a message was skipped.
    uint64_t resume[2] = {0, 0};
    bool synced[2] = {false, false};
    int resync_attempts = 0;
    bool bad = false;       // a message that is not SMB or session service stopped the follower
    bool recorded = false;  // the flow was given one of this detector's protocols
    bool session_requested = false;  // a NetBIOS session request was seen

    std::array<Tree, kMaxTrees> trees{};
    size_t tree_count = 0;
    std::array<PendingRead, kMaxPendingReads> reads{};
    size_t next_read = 0;
    std::array<Transfer, kMaxConcurrentTransfers> transfers{};
    size_t transfers_started = 0;
};

// Follows one flow's SMB messages; a short-lived view over the session and its state.
class SmbMessages {
  public:
    SmbMessages(Session& session, SmbState& st, int dir) : session_(session), st_(st), dir_(dir) {}

    // Handles one session service packet; `head` is its start (up to kHeadBytes) and `total`
    // its whole length, both counting the four-byte header. False when it is not one.
    bool handle(std::span<const uint8_t> head, size_t total);

  private:
    void record(ProtocolId id);
    bool handle_transform(std::span<const uint8_t> payload, size_t length);
    bool handle_smb2(std::span<const uint8_t> m);
    void smb2_command(std::span<const uint8_t> m, size_t pos);
    bool handle_smb1(std::span<const uint8_t> m);
    void smb1_command(std::span<const uint8_t> m, uint8_t cmd, size_t wc_pos);

    void pipe_or_file_data(std::span<const uint8_t> m, const DataRef& ref, bool transaction);
    void file_data(std::span<const uint8_t> m, const DataRef& ref);
    void close_file(const FileId& file);

    void add_tree(uint32_t id, bool pipe);
    const Tree* find_tree(uint32_t id) const;
    void add_read(uint64_t key, const FileId& file, uint64_t offset, uint32_t tree);
    const PendingRead* find_read(uint64_t key) const;

    Session& session_;
    SmbState& st_;
    int dir_;
};

}  // namespace pw::detect::smb
