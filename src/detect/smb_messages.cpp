// SMB1 and SMB2 message parsing for the SMB detector: protocol versions, tree connects,
// named-pipe data (DCE/RPC or not) and the file data of reads and writes, which goes to a
// content::TransferScanner.

#include "detect/smb_messages.h"

#include "detect/le_bytes.h"
#include "detect/msrpc.h"
#include "detect/smb.h"

namespace pw::detect::smb {
namespace {

using bytes::has;
using bytes::le16;
using bytes::le32;
using bytes::le64;

// Compound SMB2 requests and SMB1 AndX chains followed within one message.
constexpr int kMaxChained = 8;
constexpr size_t kMaxTransfersPerFlow = 32;

constexpr uint16_t kNetbiosSessionPort = 139;
constexpr uint32_t kFsctlPipeTransceive = 0x0011C017;

namespace smb2_cmd {
constexpr uint16_t kTreeConnect = 0x03;
constexpr uint16_t kClose = 0x06;
constexpr uint16_t kRead = 0x08;
constexpr uint16_t kWrite = 0x09;
constexpr uint16_t kIoctl = 0x0B;
constexpr uint16_t kMax = 0x12;
}  // namespace smb2_cmd

namespace smb1_cmd {
constexpr uint8_t kClose = 0x04;
constexpr uint8_t kTransaction = 0x25;
constexpr uint8_t kReadAndx = 0x2E;
constexpr uint8_t kWriteAndx = 0x2F;
constexpr uint8_t kTreeConnect = 0x70;
constexpr uint8_t kTreeConnectAndx = 0x75;
constexpr uint8_t kNoAndx = 0xFF;
}  // namespace smb1_cmd

constexpr uint32_t kSmb2FlagResponse = 0x00000001;
constexpr uint32_t kSmb2FlagAsync = 0x00000002;
constexpr uint8_t kSmb1FlagReply = 0x80;
constexpr uint8_t kShareTypePipe = 0x02;
// An SMB3 transform header ([MS-SMB2] 2.2.41) before the encrypted message.
constexpr size_t kTransformHeaderSize = 52;

bool is_andx_command(uint8_t cmd) {
    switch (cmd) {
        case 0x24:
        case 0x2D:
        case 0x2E:
        case 0x2F:
        case 0x73:
        case 0x74:
        case 0x75:
        case 0xA2:
            return true;
        default:
            return false;
    }
}

}  // namespace

Magic magic_of(std::span<const uint8_t> d) {
    if (d.size() < 4 || d[1] != 'S' || d[2] != 'M' || d[3] != 'B') return Magic::kNone;
    switch (d[0]) {
        case 0xFF:
            return Magic::kSmb1;
        case 0xFE:
            return Magic::kSmb2;
        case 0xFD:
            return Magic::kTransform;
        case 0xFC:
            return Magic::kCompressed;
        default:
            return Magic::kNone;
    }
}

bool SmbMessages::handle(std::span<const uint8_t> head, size_t total) {
    auto header = netbios::parse_session_header(head);
    if (!header) return false;
    if (header->type != netbios::session_type::kMessage) {
        if (!netbios::valid_session_control(*header, head.subspan(4))) return false;
        // The request's two encoded names identify the session service; a response or
        // a keepalive is four bytes that other protocols can start with too.
        if (header->type == netbios::session_type::kRequest) st_.session_requested = true;
        if (st_.session_requested) record(ProtocolId::NBTSS);
        return true;
    }
    if (header->length == 0) return true;
    auto payload = head.subspan(netbios::kSessionHeaderSize);
    switch (magic_of(payload)) {
        case Magic::kSmb1:
            return handle_smb1(payload);
        case Magic::kSmb2:
            return handle_smb2(payload);
        case Magic::kTransform:
            return handle_transform(payload, total - netbios::kSessionHeaderSize);
        case Magic::kCompressed:
            record(ProtocolId::SMB2);
            return true;
        case Magic::kNone:
            return false;
    }
    return false;
}

void SmbMessages::record(ProtocolId id) {
    session_.add(id);
    st_.recorded = true;
    if ((id == ProtocolId::SMB || id == ProtocolId::SMB2) &&
        (session_.initiator_port() == kNetbiosSessionPort ||
         session_.responder_port() == kNetbiosSessionPort)) {
        // NOTE: on port 139 the four-byte header is NetBIOS session service framing; on
        // 445 the same bytes are SMB's direct TCP transport, which is not NetBIOS.
        session_.add(ProtocolId::NBTSS);
    }
}

bool SmbMessages::handle_transform(std::span<const uint8_t> payload, size_t length) {
    if (payload.size() < kTransformHeaderSize) return false;
    // The encrypted message follows the header, exactly OriginalMessageSize bytes long.
    if (size_t{le32(payload, 36)} + kTransformHeaderSize != length) return false;
    record(ProtocolId::SMB2);
    record(ProtocolId::SMB3_ENCRYPTED);
    return true;
}

bool SmbMessages::handle_smb2(std::span<const uint8_t> m) {
    size_t pos = 0;
    for (int i = 0; i < kMaxChained; ++i) {
        if (!has(m, pos, smb::kSmb2HeaderSize)) return i > 0 || m.size() >= 4;
        if (magic_of(m.subspan(pos)) != Magic::kSmb2 || le16(m, pos + 4) != 64) return i > 0;
        if (le16(m, pos + 12) > smb2_cmd::kMax) return i > 0;
        record(ProtocolId::SMB2);
        smb2_command(m, pos);
        uint32_t next = le32(m, pos + 20);
        if (next == 0 || next < smb::kSmb2HeaderSize) break;
        pos += next;
    }
    return true;
}

void SmbMessages::smb2_command(std::span<const uint8_t> m, size_t pos) {
    uint16_t cmd = le16(m, pos + 12);
    uint32_t status = le32(m, pos + 8);
    uint32_t flags = le32(m, pos + 16);
    uint64_t message_id = le64(m, pos + 24);
    bool response = (flags & kSmb2FlagResponse) != 0;
    uint32_t tree = (flags & kSmb2FlagAsync) ? 0 : le32(m, pos + 36);
    size_t body = pos + smb::kSmb2HeaderSize;
    auto file_at = [&](size_t at) {
        FileId id{};
        std::copy_n(m.begin() + at, id.size(), id.begin());
        return id;
    };

    switch (cmd) {
        case smb2_cmd::kTreeConnect:
            record(ProtocolId::SMB_TREE);
            if (response && status == 0 && has(m, body, 4) && le16(m, body) == 16) {
                add_tree(tree, m[body + 2] == kShareTypePipe);
            }
            break;
        case smb2_cmd::kRead:
            if (!response && has(m, body, 32) && le16(m, body) == 49) {
                add_read(message_id, file_at(body + 16), le64(m, body + 8), tree);
            } else if (response && has(m, body, 8) && le16(m, body) == 17) {
                DataRef ref;
                ref.begin = pos + m[body + 2];
                ref.length = le32(m, body + 4);
                const PendingRead* read = find_read(message_id);
                ref.file_known = read != nullptr;
                if (read) {
                    ref.file = read->file;
                    ref.offset = read->offset;
                    ref.tree = read->tree;
                } else {
                    ref.tree = tree;
                }
                pipe_or_file_data(m, ref, false);
            }
            break;
        case smb2_cmd::kWrite:
            if (!response && has(m, body, 32) && le16(m, body) == 49) {
                DataRef ref;
                ref.begin = pos + le16(m, body + 2);
                ref.length = le32(m, body + 4);
                ref.offset = le64(m, body + 8);
                ref.file = file_at(body + 16);
                ref.tree = tree;
                pipe_or_file_data(m, ref, false);
            }
            break;
        case smb2_cmd::kIoctl: {
            // Requests carry the pipe input at InputOffset; responses the output at
            // OutputOffset, four bytes later in the body.
            size_t at = response ? 32 : 24;
            uint16_t size = response ? 49 : 57;
            if (has(m, body, at + 8) && le16(m, body) == size &&
                le32(m, body + 4) == kFsctlPipeTransceive) {
                DataRef ref;
                ref.begin = pos + le32(m, body + at);
                ref.length = le32(m, body + at + 4);
                ref.tree = tree;
                ref.file_known = false;
                if (ref.length > 0) pipe_or_file_data(m, ref, true);
            }
            break;
        }
        case smb2_cmd::kClose:
            if (!response && has(m, body, 24) && le16(m, body) == 24) close_file(file_at(body + 8));
            break;
        default:
            break;
    }
}

bool SmbMessages::handle_smb1(std::span<const uint8_t> m) {
    if (!smb::starts_smb1(m)) return m.size() >= 4;  // a header cut by the head bound
    record(ProtocolId::SMB);
    uint8_t cmd = m[4];
    size_t wc_pos = smb::kSmb1HeaderSize;
    for (int i = 0; i < kMaxChained; ++i) {
        if (!has(m, wc_pos, 1)) break;
        smb1_command(m, cmd, wc_pos);
        // AndX commands name the next command of the chain and where its words start.
        uint8_t words = m[wc_pos];
        if (!is_andx_command(cmd) || words < 2 || !has(m, wc_pos + 1, 4)) break;
        uint8_t next = m[wc_pos + 1];
        size_t next_pos = le16(m, wc_pos + 3);
        if (next == smb1_cmd::kNoAndx || next_pos <= wc_pos) break;
        cmd = next;
        wc_pos = next_pos;
    }
    return true;
}

void SmbMessages::smb1_command(std::span<const uint8_t> m, uint8_t cmd, size_t wc_pos) {
    bool reply = (m[9] & kSmb1FlagReply) != 0;
    uint32_t status = le32(m, 5);
    uint16_t tid = le16(m, 24);
    uint64_t read_key = uint64_t{1} << 63 | uint64_t{tid} << 32 | uint64_t{le16(m, 26)} << 16 |
                        le16(m, 30);  // tree, process and multiplex ids
    size_t words = m[wc_pos];
    size_t w = wc_pos + 1;  // first word
    if (!has(m, w, words * 2)) return;
    auto word = [&](size_t i) -> size_t { return le16(m, w + 2 * i); };
    auto fid_file = [&](size_t fid) {
        FileId id{};
        id[0] = static_cast<uint8_t>(fid);
        id[1] = static_cast<uint8_t>(fid >> 8);
        id[2] = static_cast<uint8_t>(tid);
        id[3] = static_cast<uint8_t>(tid >> 8);
        return id;
    };

    switch (cmd) {
        case smb1_cmd::kTreeConnect:
            record(ProtocolId::SMB_TREE);
            break;
        case smb1_cmd::kTreeConnectAndx:
            record(ProtocolId::SMB_TREE);
            if (reply && status == 0 && words >= 3) {
                // The bytes after ByteCount start with the service: "IPC" for named pipes.
                size_t service = w + words * 2 + 2;
                bool pipe = has(m, service, 3) && m[service] == 'I' && m[service + 1] == 'P' &&
                            m[service + 2] == 'C';
                add_tree(tid, pipe);
            }
            break;
        case smb1_cmd::kTransaction: {
            DataRef ref;
            if (!reply && words >= 14) {
                ref.length = word(11);
                ref.begin = word(12);
            } else if (reply && words >= 10) {
                ref.length = word(6);
                ref.begin = word(7);
            } else {
                break;
            }
            ref.tree = tid;
            ref.file_known = false;
            if (ref.length > 0) pipe_or_file_data(m, ref, true);
            break;
        }
        case smb1_cmd::kWriteAndx:
            if (!reply && (words == 12 || words == 14)) {
                DataRef ref;
                ref.file = fid_file(word(2));
                ref.offset = word(3) | word(4) << 16;
                if (words == 14) ref.offset |= uint64_t{word(12) | word(13) << 16} << 32;
                ref.length = word(10) | word(9) << 16;
                ref.begin = word(11);
                ref.tree = tid;
                pipe_or_file_data(m, ref, false);
            }
            break;
        case smb1_cmd::kReadAndx:
            if (!reply && (words == 10 || words == 12)) {
                uint64_t offset = word(3) | word(4) << 16;
                if (words == 12) offset |= uint64_t{word(10) | word(11) << 16} << 32;
                add_read(read_key, fid_file(word(2)), offset, tid);
            } else if (reply && words == 12) {
                DataRef ref;
                ref.length = word(5) | word(7) << 16;
                ref.begin = word(6);
                const PendingRead* read = find_read(read_key);
                ref.file_known = read != nullptr;
                if (read) {
                    ref.file = read->file;
                    ref.offset = read->offset;
                }
                ref.tree = tid;
                pipe_or_file_data(m, ref, false);
            }
            break;
        case smb1_cmd::kClose:
            if (!reply && words >= 1) close_file(fid_file(word(0)));
            break;
        default:
            break;
    }
}

void SmbMessages::pipe_or_file_data(std::span<const uint8_t> m, const DataRef& ref,
                                    bool transaction) {
    if (ref.length == 0) return;
    // DCE/RPC is recognized by content, whatever the tree: a capture can start after the
    // tree connect.
    if (has(m, ref.begin, msrpc::kCoHeaderSize) && msrpc::parse_co_header(m.subspan(ref.begin))) {
        record(ProtocolId::MSRPC);
        return;
    }
    const Tree* tree = find_tree(ref.tree);
    if (tree && tree->pipe) {
        // SMB1 transactions on pipes are mostly LAN Manager remote administration (RAP) and
        // mailslots, which are not pipe data of an unknown protocol.
        if (!transaction || m[0] == 0xFE) record(ProtocolId::SMB_PIPEDATA_UNKNOWN);
        return;
    }
    if (!transaction && ref.file_known) file_data(m, ref);
}

void SmbMessages::file_data(std::span<const uint8_t> m, const DataRef& ref) {
    // 1. Find the transfer this data continues, or start one for data at the file's start.
    int index = -1;
    for (size_t i = 0; i < st_.transfers.size(); ++i) {
        if (st_.transfers[i].scanner && st_.transfers[i].file == ref.file) index = int(i);
    }
    if (index < 0) {
        if (ref.offset != 0 || st_.transfers_started >= kMaxTransfersPerFlow) return;
        for (size_t i = 0; i < st_.transfers.size() && index < 0; ++i) {
            if (!st_.transfers[i].scanner) index = int(i);
        }
        if (index < 0) return;
        Transfer& t = st_.transfers[index];
        t.file = ref.file;
        t.next_offset = 0;
        t.scanner.emplace();
        ++st_.transfers_started;
    }
    Transfer& t = st_.transfers[index];
    if (t.next_offset != ref.offset) return;  // out of order or a rewrite: not followed
    t.next_offset += ref.length;

    // 2. Feed the part already in the head; the rest of the message goes through the sink.
    size_t begin = netbios::kSessionHeaderSize + ref.begin;
    size_t end = begin + ref.length;
    size_t head_end = netbios::kSessionHeaderSize + m.size();
    if (begin < head_end) {
        auto part = m.subspan(ref.begin, std::min(end, head_end) - begin);
        if (!t.scanner->feed(part, session_)) return;
    }
    if (end > head_end) st_.sink[dir_] = {index, std::max(begin, head_end), end};
}

void SmbMessages::close_file(const FileId& file) {
    for (auto& t : st_.transfers) {
        if (t.scanner && t.file == file) {
            t.scanner->finish(session_);
            t.scanner.reset();
        }
    }
}

void SmbMessages::add_tree(uint32_t id, bool pipe) {
    for (size_t i = 0; i < st_.tree_count; ++i) {
        if (st_.trees[i].id == id) {
            st_.trees[i].pipe = pipe;
            return;
        }
    }
    // A full table forgets the oldest tree.
    size_t slot = st_.tree_count < kMaxTrees ? st_.tree_count++ : id % kMaxTrees;
    st_.trees[slot] = {id, pipe};
}

const Tree* SmbMessages::find_tree(uint32_t id) const {
    for (size_t i = 0; i < st_.tree_count; ++i) {
        if (st_.trees[i].id == id) return &st_.trees[i];
    }
    return nullptr;
}

void SmbMessages::add_read(uint64_t key, const FileId& file, uint64_t offset, uint32_t tree) {
    st_.reads[st_.next_read] = {key, file, offset, tree};
    st_.next_read = (st_.next_read + 1) % kMaxPendingReads;
}

const PendingRead* SmbMessages::find_read(uint64_t key) const {
    for (const auto& read : st_.reads) {
        if (read.key == key && read.file != FileId{}) return &read;
    }
    return nullptr;
}

}  // namespace pw::detect::smb
