#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace pw::pipeline {

// The maximum number of detectors the registry may hold.
inline constexpr size_t kMaxDetectors = 128;

// A set of detector slots, as bits of 64-bit words so that the pipeline can visit the
// members in slot order by counting zeros rather than testing every slot.
class DetectorSet {
  public:
    static constexpr size_t kWords = kMaxDetectors / 64;

    bool test(size_t slot) const { return (words_[slot / 64] >> (slot % 64)) & 1; }
    void set(size_t slot) { words_[slot / 64] |= uint64_t{1} << (slot % 64); }
    uint64_t word(size_t index) const { return words_[index]; }

  private:
    std::array<uint64_t, kWords> words_{};
};

}  // namespace pw::pipeline
