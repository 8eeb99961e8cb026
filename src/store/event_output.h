#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store_reader.h"

namespace pw::store {

enum class OutputFormat { kJsonl, kTable, kCsv };

std::optional<OutputFormat> parse_output_format(std::string_view name);

// A statistics event with the connect and disconnect events of its session, when found.
struct SessionRecord {
    StoredEvent statistics;
    std::optional<StoredEvent> connect;
    std::optional<StoredEvent> disconnect;
};

// Writes records as they come. JSON Lines and CSV write each row at once. The table holds
// only its first rows, to size the columns, and then writes every later row at once.
class RecordWriter {
  public:
    virtual ~RecordWriter() = default;
    virtual void write(const StoredEvent& event) = 0;
    virtual void write(const SessionRecord& session) = 0;
    // Writes what is still held and flushes the stream.
    virtual void finish() = 0;
};

// `sessions` selects the columns of session records for the table and CSV formats.
// `device_column` adds the device as the table's first column; CSV and JSON always have it.
std::unique_ptr<RecordWriter> make_record_writer(OutputFormat format, std::ostream& out,
                                                 bool sessions, bool device_column = false);

// The event's JSON object (the schema of events/json.h) with the store's event_uid added.
std::string stored_event_json(const StoredEvent& event);

}  // namespace pw::store
