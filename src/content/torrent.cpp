// BitTorrent metainfo: a bencoded dictionary (BEP 3) whose keys include "announce",
// "announce-list" or "info". The head is often cut inside the binary "pieces" string of
// "info", so a value that runs past the head ends the walk without rejecting the file.

#include <optional>

#include "content/magic.h"

namespace pw::content {
namespace {

constexpr int kMaxDepth = 16;
constexpr size_t kMaxStringLength = 1 << 28;

struct Cursor {
    Bytes data;
    size_t at = 0;
    bool truncated = false;  // a value runs past the end of data

    bool more() const { return at < data.size(); }
    uint8_t peek() const { return data[at]; }
};

// Reads the length prefix and body of a bencoded string.
std::optional<std::string_view> read_string(Cursor& cursor) {
    size_t length = 0;
    size_t digits = 0;
    while (cursor.more() && cursor.peek() >= '0' && cursor.peek() <= '9') {
        length = length * 10 + (cursor.peek() - '0');
        ++cursor.at;
        if (++digits > 9 || length > kMaxStringLength) return std::nullopt;
    }
    if (!cursor.more()) {
        cursor.truncated = true;
        return std::nullopt;
    }
    if (digits == 0 || cursor.peek() != ':') return std::nullopt;
    ++cursor.at;
    if (!has_bytes(cursor.data, cursor.at, length)) {
        cursor.truncated = true;
        cursor.at = cursor.data.size();
        return std::nullopt;
    }
    std::string_view text = as_text(cursor.data.subspan(cursor.at, length));
    cursor.at += length;
    return text;
}

// Skips one value; false when it is malformed or runs past the data.
bool skip_value(Cursor& cursor, int depth) {
    if (!cursor.more()) {
        cursor.truncated = true;
        return false;
    }
    if (depth > kMaxDepth) return false;
    uint8_t type = cursor.peek();
    if (type == 'i') {
        ++cursor.at;
        if (cursor.more() && cursor.peek() == '-') ++cursor.at;
        size_t digits = 0;
        while (cursor.more() && cursor.peek() >= '0' && cursor.peek() <= '9') {
            ++cursor.at;
            ++digits;
        }
        if (!cursor.more()) cursor.truncated = true;
        if (!cursor.more() || digits == 0 || cursor.peek() != 'e') return false;
        ++cursor.at;
        return true;
    }
    if (type == 'l' || type == 'd') {
        ++cursor.at;
        while (cursor.more() && cursor.peek() != 'e') {
            if (type == 'd' && !read_string(cursor)) return false;
            if (!skip_value(cursor, depth + 1)) return false;
        }
        if (!cursor.more()) {
            cursor.truncated = true;
            return false;
        }
        ++cursor.at;
        return true;
    }
    return read_string(cursor).has_value();
}

}  // namespace

bool is_torrent(Bytes head) {
    Cursor cursor{head};
    if (!cursor.more() || cursor.peek() != 'd') return false;
    ++cursor.at;
    bool found = false;
    while (cursor.more() && cursor.peek() != 'e') {
        std::optional<std::string_view> key = read_string(cursor);
        if (!key) return found && cursor.truncated;
        if (!cursor.more()) return found;
        uint8_t value_type = cursor.peek();
        bool announce = *key == "announce" && value_type >= '0' && value_type <= '9';
        bool tiers = *key == "announce-list" && value_type == 'l';
        bool info = *key == "info" && value_type == 'd';
        found = found || announce || tiers || info;
        if (!skip_value(cursor, 1)) return found && cursor.truncated;
    }
    return found;
}

}  // namespace pw::content
