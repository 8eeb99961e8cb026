#pragma once

// SMB message checks shared by the SMB detector and the NetBIOS datagram service detector
// (whose datagrams carry SMB mailslot transactions).

#include <cstddef>
#include <cstdint>
#include <span>

namespace pw::detect::smb {

inline constexpr size_t kSmb1HeaderSize = 32;  // [MS-CIFS] 2.2.3.1
inline constexpr size_t kSmb2HeaderSize = 64;  // [MS-SMB2] 2.2.1

// True when `data` starts with an SMB1 header ("\xFFSMB" and room for the whole header).
inline bool starts_smb1(std::span<const uint8_t> data) {
    return data.size() >= kSmb1HeaderSize && data[0] == 0xFF && data[1] == 'S' && data[2] == 'M' &&
           data[3] == 'B';
}

}  // namespace pw::detect::smb
