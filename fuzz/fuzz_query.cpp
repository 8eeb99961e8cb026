// Parses and compiles the input as a search query, and cuts the excerpt that an error
// shows under the query, as `search` prints it.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "query/compiler.h"
#include "query/error_excerpt.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        (void)pw::query::compile_query(text, 1'700'000'000'000);
    } catch (const pw::query::QueryError& error) {
        // Rejected queries raise an error naming the position; that is the expected path.
        // The caret must point inside the excerpt's columns, whatever the text.
        for (size_t width : {size_t{76}, size_t{7}, size_t{1}}) {
            pw::query::ErrorExcerpt excerpt = pw::query::excerpt_at(text, error.position(), width);
            if (!excerpt.text.empty() && excerpt.caret.size() > width + 2) std::abort();
        }
    } catch (const std::exception&) {
    }
    return 0;
}
