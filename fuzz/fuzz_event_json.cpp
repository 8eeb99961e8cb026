// Parses the input as one event's JSON.

#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "events/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto object = nlohmann::json::parse(data, data + size, nullptr, false);
    if (object.is_discarded()) return 0;
    try {
        pw::events::Event event = pw::events::from_json(object);
        (void)pw::events::to_json_line(event);
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
