#pragma once

#include <cstdint>
#include <string>

namespace pw::report {

// The id the report gives to the sum of the protocols not drawn on their own.
inline constexpr int kOtherProtocols = -1;

// Returns the CSS color of a protocol id, the same in every chart and every report: hues
// step by the golden angle, so ids next to each other get distant hues. Id 0 (no protocol
// identified) and kOtherProtocols are greys.
std::string protocol_color(int protocol_id);

}  // namespace pw::report
