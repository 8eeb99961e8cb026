// Content identification of transferred objects: identify() on the input as one head, and
// a TransferScanner fed the same bytes in pieces whose sizes come from the input, with a
// declared media type.
//
// Input: [media type][piece size seed][object bytes].

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "content/transfer.h"
#include "decode/packet.h"
#include "detect/session.h"

namespace {

constexpr std::string_view kMediaTypes[] = {"",
                                            "text/html",
                                            "application/javascript",
                                            "text/javascript; charset=utf-8",
                                            "image/png",
                                            "application/x-bittorrent",
                                            "text/xml"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    std::span<const uint8_t> object(data + 2, size - 2);
    pw::content::identify(object);

    const uint8_t client[4] = {10, 0, 0, 1};
    const uint8_t server[4] = {192, 0, 2, 80};
    pw::detect::Session session(pw::detect::Transport::kTcp, pw::decode::IpAddress::v4(client),
                                40000, pw::decode::IpAddress::v4(server), 80);
    pw::content::TransferScanner scanner(kMediaTypes[data[0] % std::size(kMediaTypes)]);
    // Piece sizes from 1 to 256 bytes, varying along the object, so that magic numbers and
    // tags fall across piece boundaries.
    size_t piece = size_t{data[1]} + 1;
    size_t at = 0;
    while (at < object.size() &&
           scanner.feed(object.subspan(at, std::min(piece, object.size() - at)), session)) {
        at += piece;
        piece = piece * 7 % 251 + 1;
    }
    scanner.finish(session);
    return 0;
}
