#include "report/palette.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "detect/protocols.h"

namespace pw::report {
namespace {

// The protocols of most traffic get hand-picked colors far apart from each other. Every
// other id gets a hue from the golden angle, which may come close to one of these.
const std::map<ProtocolId, const char*>& fixed_colors() {
    static const std::map<ProtocolId, const char*> colors = {
        {ProtocolId::TLS, "#1f77b4"},  {ProtocolId::HTTP, "#e8590c"},
        {ProtocolId::DNS, "#2f9e44"},  {ProtocolId::MDNS, "#94d82d"},
        {ProtocolId::SSH, "#7048e8"},  {ProtocolId::HTTP2, "#4dabf7"},
        {ProtocolId::FTP, "#a61e4d"},  {ProtocolId::FTP_DATA, "#f783ac"},
        {ProtocolId::SMB2, "#5c940d"}, {ProtocolId::SMB, "#8ce99a"},
        {ProtocolId::ICMP, "#fab005"}, {ProtocolId::ICMPV6, "#ffd43b"},
        {ProtocolId::IGMP, "#495057"}, {ProtocolId::NTP, "#0c8599"},
        {ProtocolId::SSL3, "#364fc7"}, {ProtocolId::SMTP, "#c2255c"},
        {ProtocolId::IMAP, "#862e9c"}, {ProtocolId::KERBEROS, "#d9480f"},
        {ProtocolId::LDAP, "#66a80f"}, {ProtocolId::NETBIOS_NS, "#99e9f2"},
    };
    return colors;
}

constexpr double kGoldenAngleDegrees = 137.50776;
constexpr double kSaturation = 0.62;
constexpr double kLightness = 0.47;

// Converts HSL (hue in degrees, saturation and lightness in [0, 1]) to #rrggbb.
std::string hsl_to_hex(double hue, double saturation, double lightness) {
    double chroma = (1 - std::fabs(2 * lightness - 1)) * saturation;
    double sector = hue / 60.0;
    double x = chroma * (1 - std::fabs(std::fmod(sector, 2.0) - 1));
    double r = 0, g = 0, b = 0;
    switch (static_cast<int>(sector) % 6) {
        case 0:
            r = chroma, g = x;
            break;
        case 1:
            r = x, g = chroma;
            break;
        case 2:
            g = chroma, b = x;
            break;
        case 3:
            g = x, b = chroma;
            break;
        case 4:
            r = x, b = chroma;
            break;
        default:
            r = chroma, b = x;
            break;
    }
    double m = lightness - chroma / 2;
    auto channel = [m](double value) { return static_cast<int>(std::lround((value + m) * 255)); };
    return fmt::format("#{:02x}{:02x}{:02x}", channel(r), channel(g), channel(b));
}

}  // namespace

std::string protocol_color(int protocol_id) {
    if (protocol_id == 0) return "#8c8c8c";
    if (protocol_id == kOtherProtocols) return "#c4c4c4";
    auto fixed = fixed_colors().find(static_cast<ProtocolId>(protocol_id));
    if (fixed != fixed_colors().end()) return fixed->second;
    double hue = std::fmod(protocol_id * kGoldenAngleDegrees, 360.0);
    return hsl_to_hex(hue, kSaturation, kLightness);
}

}  // namespace pw::report
