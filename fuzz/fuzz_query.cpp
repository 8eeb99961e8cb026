// Parses and compiles the input as a search query.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "query/compiler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        (void)pw::query::compile_query(text, 1'700'000'000'000);
    } catch (const std::exception&) {
        // Rejected queries raise an error naming the position; that is the expected path.
    }
    return 0;
}
