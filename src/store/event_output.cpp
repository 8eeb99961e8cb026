#include "store/event_output.h"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>

#include "common/ascii.h"
#include "decode/packet.h"
#include "events/json.h"
#include "query/literals.h"

namespace pw::store {
namespace {

using Row = std::vector<std::string>;

// The table sizes its columns from this many rows; a longer value in a later row widens
// only that row.
constexpr size_t kTableSizingRows = 200;

const char* direction_name(events::Direction direction) {
    switch (direction) {
        case events::Direction::kInbound:
            return "inbound";
        case events::Direction::kOutbound:
            return "outbound";
        case events::Direction::kUnknown:
            break;
    }
    return "unknown";
}

std::string endpoint(const std::string& ip, uint16_t port) {
    if (ip.find(':') != std::string::npos) return fmt::format("[{}]:{}", ip, port);
    return fmt::format("{}:{}", ip, port);
}

std::string protocol_names(const events::Event& event, std::string_view separator) {
    std::string names;
    for (ProtocolId id : event.protocols) {
        if (!names.empty()) names += separator;
        names += protocol_name(id);
    }
    return names;
}

std::string process_name(const events::Event& event) {
    return event.process ? event.process->name : std::string();
}

std::string process_pid(const events::Event& event) {
    if (!event.process || !event.process->attributed()) return {};
    return std::to_string(event.process->pid);
}

bool is_statistics(const events::Event& event) {
    return event.activity == events::Activity::kStatistics;
}

Row event_table_row(const StoredEvent& stored) {
    const events::Event& e = stored.event;
    bool stats = is_statistics(e);
    return {query::format_time(e.time_ms),
            events::activity_name(e.activity),
            decode::ip_protocol::name(e.ip_protocol),
            endpoint(e.source_ip, e.source_port),
            endpoint(e.target_ip, e.target_port),
            direction_name(e.direction),
            protocol_names(e, ","),
            stats ? std::to_string(e.bytes_in) : "",
            stats ? std::to_string(e.bytes_out) : "",
            e.activity == events::Activity::kDisconnect ? events::end_reason_name(e.reason) : "",
            process_pid(e),
            process_name(e)};
}

const Row kEventTableHeader = {"TIME",      "EVENT",    "PROTO",     "SOURCE", "TARGET", "DIR",
                               "PROTOCOLS", "BYTES IN", "BYTES OUT", "REASON", "PID",    "PROCESS"};

Row session_table_row(const SessionRecord& session) {
    const events::Event& e = session.statistics.event;
    return {query::format_time(e.start_time_ms),
            query::format_time(e.end_time_ms),
            decode::ip_protocol::name(e.ip_protocol),
            endpoint(e.source_ip, e.source_port),
            endpoint(e.target_ip, e.target_port),
            protocol_names(e, ","),
            std::to_string(e.bytes_in),
            std::to_string(e.bytes_out),
            session.connect ? "yes" : "no",
            session.disconnect ? events::end_reason_name(session.disconnect->event.reason) : "-",
            process_pid(e),
            process_name(e)};
}

const Row kSessionTableHeader = {"START",   "END",        "PROTO",    "SOURCE",
                                 "TARGET",  "PROTOCOLS",  "BYTES IN", "BYTES OUT",
                                 "CONNECT", "END REASON", "PID",      "PROCESS"};

Row event_csv_row(const StoredEvent& stored) {
    const events::Event& e = stored.event;
    bool stats = is_statistics(e);
    auto stat = [stats](auto value) { return stats ? std::to_string(value) : std::string(); };
    const events::Process* p = e.process ? &*e.process : nullptr;
    return {stored.event_uid,
            std::to_string(e.time_ms),
            std::to_string(static_cast<int>(e.activity)),
            std::to_string(e.ip_protocol),
            e.source_ip,
            std::to_string(e.source_port),
            e.target_ip,
            std::to_string(e.target_port),
            std::to_string(static_cast<int>(e.direction)),
            e.connection_uid,
            e.device,
            e.activity == events::Activity::kDisconnect ? events::end_reason_name(e.reason) : "",
            protocol_names(e, ";"),
            stat(e.bytes_in),
            stat(e.bytes_out),
            stat(e.packets_in),
            stat(e.packets_out),
            stat(e.start_time_ms),
            stat(e.end_time_ms),
            stat(e.end_time_ms - e.start_time_ms),
            stats ? std::string(e.partial ? "true" : "false") : std::string(),
            process_pid(e),
            p ? p->name : "",
            p ? p->executable : "",
            p ? p->command_line : "",
            p && p->uid >= 0 ? std::to_string(p->uid) : "",
            p ? p->user : "",
            std::to_string(events::kNetworkEventTypeId),
            p ? p->unattributed_reason : ""};
}

const Row kEventCsvHeader = {
    "event_uid",   "time",        "id",           "ip_protocol",        "source_ip",
    "source_port", "target_ip",   "target_port",  "direction_id",       "connection_uid",
    "device",      "reason",      "protocols",    "bytes_in",           "bytes_out",
    "packets_in",  "packets_out", "start_time",   "end_time",           "duration_ms",
    "partial",     "process.pid", "process.name", "process.executable", "process.command_line",
    "process.uid", "process.user", "type_id", "process.unattributed_reason"};

Row session_csv_row(const SessionRecord& session) {
    Row row = event_csv_row(session.statistics);
    const auto& c = session.connect;
    const auto& d = session.disconnect;
    row.push_back(c ? c->event_uid : "");
    row.push_back(c ? std::to_string(c->event.time_ms) : "");
    row.push_back(d ? d->event_uid : "");
    row.push_back(d ? std::to_string(d->event.time_ms) : "");
    row.push_back(d ? events::end_reason_name(d->event.reason) : "");
    return row;
}

Row session_csv_header() {
    Row header = kEventCsvHeader;
    for (const char* name : {"connect_event_uid", "connect_time", "disconnect_event_uid",
                             "disconnect_time", "disconnect_reason"}) {
        header.emplace_back(name);
    }
    return header;
}

class JsonLinesWriter : public RecordWriter {
  public:
    explicit JsonLinesWriter(std::ostream& out) : out_(out) {}
    void write(const StoredEvent& event) override { out_ << stored_event_json(event) << '\n'; }
    void write(const SessionRecord& session) override {
        auto part = [](const std::optional<StoredEvent>& event) {
            return event ? stored_event_json(*event) : std::string("null");
        };
        out_ << "{\"statistics\":" << stored_event_json(session.statistics)
             << ",\"connect\":" << part(session.connect)
             << ",\"disconnect\":" << part(session.disconnect) << "}\n";
    }
    void finish() override { out_.flush(); }

  private:
    std::ostream& out_;
};

// Returns `value` as UTF-8 text that a terminal shows as it is: bytes that are not UTF-8
// and control characters other than tab, CR and LF become U+FFFD, as invalid bytes do in
// JSON. Process names and HTTP fields come from any local user or remote sender.
std::string csv_text(const std::string& value) {
    constexpr std::string_view kReplacement = "\xef\xbf\xbd";
    std::string text;
    text.reserve(value.size());
    size_t i = 0;
    while (i < value.size()) {
        const auto byte = static_cast<uint8_t>(value[i]);
        const size_t length = utf8_length_at(value, i);
        const bool control =
            (byte < 0x20 && byte != '\t' && byte != '\r' && byte != '\n') || byte == 0x7F ||
            (length == 2 && byte == 0xC2 && static_cast<uint8_t>(value[i + 1]) < 0xA0);
        if (length == 0 || control) {
            text += kReplacement;
            i += std::max<size_t>(length, 1);
            continue;
        }
        text.append(value, i, length);
        i += length;
    }
    return text;
}

std::string csv_field(const std::string& raw) {
    const std::string value = csv_text(raw);
    if (value.find_first_of(",\"\r\n") == std::string::npos) return value;
    std::string quoted = "\"";
    for (char c : value) {
        if (c == '"') quoted += '"';
        quoted += c;
    }
    return quoted + "\"";
}

class CsvWriter : public RecordWriter {
  public:
    CsvWriter(std::ostream& out, const Row& header) : out_(out) { write_row(header); }
    void write(const StoredEvent& event) override { write_row(event_csv_row(event)); }
    void write(const SessionRecord& session) override { write_row(session_csv_row(session)); }
    void finish() override { out_.flush(); }

  private:
    void write_row(const Row& row) {
        for (size_t i = 0; i < row.size(); ++i) {
            if (i > 0) out_ << ',';
            out_ << csv_field(row[i]);
        }
        out_ << "\r\n";
    }
    std::ostream& out_;
};

class TableWriter : public RecordWriter {
  public:
    // With `device`, a DEVICE column comes first: the rows of several machines mix.
    TableWriter(std::ostream& out, Row header, bool device)
        : out_(out), widths_(header.size() + (device ? 1 : 0), 0), device_(device) {
        if (device) header.insert(header.begin(), "DEVICE");
        held_.push_back(std::move(header));
    }
    void write(const StoredEvent& event) override {
        Row row = event_table_row(event);
        if (device_) row.insert(row.begin(), event.event.device);
        add(std::move(row));
    }
    void write(const SessionRecord& session) override { add(session_table_row(session)); }
    void finish() override {
        release();
        out_.flush();
    }

  private:
    void add(Row row) {
        for (std::string& cell : row) cell = terminal_safe(cell);
        if (sized_) {
            print(row);
            return;
        }
        held_.push_back(std::move(row));
        if (held_.size() > kTableSizingRows) release();
    }

    void release() {
        if (sized_) return;
        for (const Row& row : held_) {
            for (size_t i = 0; i < row.size(); ++i)
                widths_[i] = std::max(widths_[i], row[i].size());
        }
        sized_ = true;
        for (const Row& row : held_) print(row);
        held_.clear();
    }

    void print(const Row& row) {
        std::string line;
        for (size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size())
                line.append(widths_[i] - std::min(widths_[i], row[i].size()) + 2, ' ');
        }
        while (!line.empty() && line.back() == ' ') line.pop_back();
        out_ << line << '\n';
    }

    std::ostream& out_;
    std::vector<size_t> widths_;
    std::vector<Row> held_;
    bool device_ = false;
    bool sized_ = false;
};

}  // namespace

std::optional<OutputFormat> parse_output_format(std::string_view name) {
    if (name == "jsonl") return OutputFormat::kJsonl;
    if (name == "table") return OutputFormat::kTable;
    if (name == "csv") return OutputFormat::kCsv;
    return std::nullopt;
}

std::string stored_event_json(const StoredEvent& event) {
    auto object = events::to_json(event.event);
    object["event_uid"] = event.event_uid;
    // Text from the live agent (a command line) may hold invalid UTF-8; replace it, not throw.
    return object.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::unique_ptr<RecordWriter> make_record_writer(OutputFormat format, std::ostream& out,
                                                 bool sessions, bool device_column) {
    switch (format) {
        case OutputFormat::kJsonl:
            return std::make_unique<JsonLinesWriter>(out);
        case OutputFormat::kCsv:
            return std::make_unique<CsvWriter>(out,
                                               sessions ? session_csv_header() : kEventCsvHeader);
        case OutputFormat::kTable:
            break;
    }
    return std::make_unique<TableWriter>(out, sessions ? kSessionTableHeader : kEventTableHeader,
                                         device_column);
}

}  // namespace pw::store
