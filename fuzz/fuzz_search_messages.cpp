// Feeds the input to both ends of fleet search, as bytes that any NATS user allowed to
// publish there can send: first as a search request, which an agent decodes and compiles,
// then as a sequence of replies (one per line) that the requester gathers and prints in
// every output format.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "fleet/search_gathering.h"
#include "fleet/search_messages.h"
#include "query/compiler.h"
#include "store/event_output.h"

namespace {

void decode_as_request(std::string_view text) {
    try {
        pw::fleet::SearchRequest request = pw::fleet::decode_request(text);
        (void)pw::fleet::encode_request(request);
        (void)pw::query::compile_query(request.query, 1'700'000'000'000);
    } catch (const std::exception&) {
        // The agent answers an invalid request or query with an error reply.
    }
}

void gather_as_replies(std::string_view text) {
    std::ostringstream out;
    std::unique_ptr<pw::store::RecordWriter> writers[] = {
        pw::store::make_record_writer(pw::store::OutputFormat::kJsonl, out, false),
        pw::store::make_record_writer(pw::store::OutputFormat::kTable, out, false),
        pw::store::make_record_writer(pw::store::OutputFormat::kCsv, out, false)};
    pw::fleet::SearchGathering gathering({"agent-1"}, [&](pw::store::StoredEvent& event) {
        for (auto& writer : writers) writer->write(event);
    });
    while (!text.empty()) {
        size_t end = text.find('\n');
        std::string_view line = text.substr(0, end);
        (void)gathering.handle(line);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    }
    (void)gathering.finished();
    (void)gathering.answers();
    for (auto& writer : writers) writer->finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    decode_as_request(text);
    gather_as_replies(text);
    return 0;
}
