#include <algorithm>
#include <array>
#include <cctype>

#include "content/magic.h"
#include "content/ole.h"
#include "content/tar.h"
#include "content/transfer.h"

namespace pw::content {

ProtocolId identify(std::span<const uint8_t> head) {
    // Magic numbers at offset 0 come first: they are the most specific. A tar archive has
    // its magic at offset 257 and a file name at 0, and text formats have no magic at all.
    ProtocolId id = identify_binary(head);
    if (id != ProtocolId::kNone) return id;
    id = identify_ole(head);
    if (id != ProtocolId::kNone) return id;
    id = identify_tar(head);
    if (id != ProtocolId::kNone) return id;
    return identify_text(head);
}

bool is_javascript_media_type(std::string_view media_type) {
    size_t end = media_type.find(';');
    std::string_view essence = media_type.substr(0, end);
    while (!essence.empty() && (essence.back() == ' ' || essence.back() == '\t'))
        essence.remove_suffix(1);
    while (!essence.empty() && (essence.front() == ' ' || essence.front() == '\t'))
        essence.remove_prefix(1);
    std::string lowered(essence);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // RFC 9239 makes text/javascript the one current name and lists the others as
    // historic; servers still send all of them.
    constexpr std::array<std::string_view, 10> kNames = {
        "text/javascript",   "application/javascript", "application/x-javascript",
        "text/x-javascript", "application/ecmascript", "application/x-ecmascript",
        "text/ecmascript",   "text/x-ecmascript",      "text/jscript",
        "text/livescript"};
    if (std::find(kNames.begin(), kNames.end(), lowered) != kNames.end()) return true;
    // text/javascript1.0 to text/javascript1.5
    return lowered.size() == 18 && lowered.starts_with("text/javascript1.") &&
           lowered.back() >= '0' && lowered.back() <= '5';
}

}  // namespace pw::content
