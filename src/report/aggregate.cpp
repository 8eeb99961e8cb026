#include "report/aggregate.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>

#include "detect/protocols.h"
#include "report/palette.h"
#include "report/staging.h"

namespace pw::report {
namespace {

using nlohmann::json;

// Bucket widths of the protocol mix over time, in ms: the smallest that keeps the number of
// buckets within Limits::time_buckets is chosen, so the axis ticks fall on round times.
constexpr std::array<int64_t, 19> kBucketWidthsMs = {1'000,
                                                     5'000,
                                                     10'000,
                                                     30'000,
                                                     60'000,
                                                     300'000,
                                                     600'000,
                                                     1'800'000,
                                                     3'600'000,
                                                     10'800'000,
                                                     21'600'000,
                                                     43'200'000,
                                                     86'400'000,
                                                     604'800'000,
                                                     2'592'000'000LL,
                                                     7'776'000'000LL,
                                                     31'536'000'000LL,
                                                     315'360'000'000LL,
                                                     3'153'600'000'000LL};

int64_t bucket_width(int64_t span_ms, size_t max_buckets) {
    for (int64_t width : kBucketWidthsMs) {
        if (span_ms / width < static_cast<int64_t>(max_buckets)) return width;
    }
    return kBucketWidthsMs.back();
}

json totals(store::Database& db) {
    store::Statement row = db.prepare(
        "SELECT count(*), coalesce(sum(bytes_in), 0), coalesce(sum(bytes_out), 0), "
        "coalesce(sum(packets_in), 0), coalesce(sum(packets_out), 0), min(start_time), "
        "max(end_time), count(process_name), coalesce(sum(partial), 0), count(DISTINCT device) "
        "FROM report_connections");
    row.step();
    json out = {{"connections", row.column_int(0)},
                {"bytes_in", row.column_int(1)},
                {"bytes_out", row.column_int(2)},
                {"packets_in", row.column_int(3)},
                {"packets_out", row.column_int(4)},
                {"with_process", row.column_int(7)},
                {"partial", row.column_int(8)},
                {"devices", row.column_int(9)},
                {"first_ms", nullptr},
                {"last_ms", nullptr}};
    if (!row.is_null(5)) out["first_ms"] = row.column_int(5);
    if (!row.is_null(6)) out["last_ms"] = row.column_int(6);
    return out;
}

json devices(store::Database& db, const Limits& limits) {
    store::Statement rows = db.prepare(
        "SELECT coalesce(device, ''), count(*) FROM report_connections GROUP BY device "
        "ORDER BY count(*) DESC, device LIMIT ?");
    rows.bind(1, static_cast<int64_t>(limits.top));
    json out = json::array();
    while (rows.step())
        out.push_back({{"name", rows.column_text(0)}, {"connections", rows.column_int(1)}});
    return out;
}

// Every application protocol with its connections and bytes, the most bytes first.
json protocol_totals(store::Database& db) {
    store::Statement rows = db.prepare(
        "SELECT protocol, count(*), sum(bytes_in), sum(bytes_out) FROM report_connections "
        "GROUP BY protocol ORDER BY sum(bytes_in) + sum(bytes_out) DESC, count(*) DESC");
    json out = json::array();
    while (rows.step()) {
        out.push_back({{"id", rows.column_int(0)},
                       {"connections", rows.column_int(1)},
                       {"bytes_in", rows.column_int(2)},
                       {"bytes_out", rows.column_int(3)}});
    }
    return out;
}

// The protocols drawn on their own in the mix over time: the top half of
// Limits::chart_protocols by bytes, then the top by connections until it is full.
std::set<int64_t> chart_protocols(const json& by_protocol, const Limits& limits) {
    std::vector<std::pair<int64_t, int64_t>> by_connections;
    std::set<int64_t> chosen;
    for (const json& row : by_protocol) {
        if (chosen.size() < limits.chart_protocols / 2 + limits.chart_protocols % 2) {
            chosen.insert(row["id"].get<int64_t>());
        }
        by_connections.emplace_back(-row["connections"].get<int64_t>(), row["id"].get<int64_t>());
    }
    std::sort(by_connections.begin(), by_connections.end());
    for (auto [negative_count, id] : by_connections) {
        if (chosen.size() >= limits.chart_protocols) break;
        chosen.insert(id);
    }
    return chosen;
}

// Connections and bytes per application protocol and time bucket, each connection in the
// bucket of its first packet.
json timeline(store::Database& db, const json& total, const json& by_protocol,
              const Limits& limits) {
    json out = {{"bucket_ms", 0}, {"start_ms", 0}, {"series", json::array()}};
    if (total["first_ms"].is_null()) return out;
    int64_t first = total["first_ms"].get<int64_t>();
    int64_t last = total["last_ms"].is_null() ? first : total["last_ms"].get<int64_t>();
    int64_t width = bucket_width(last - first, limits.time_buckets);
    int64_t start = first - first % width;
    size_t buckets = static_cast<size_t>((last - start) / width + 1);
    out["bucket_ms"] = width;
    out["start_ms"] = start;

    std::set<int64_t> shown = chart_protocols(by_protocol, limits);
    std::map<int64_t, std::pair<std::vector<int64_t>, std::vector<int64_t>>> series;
    store::Statement rows = db.prepare(
        "SELECT (start_time - ?) / ?, protocol, count(*), sum(bytes_in) + sum(bytes_out) "
        "FROM report_connections GROUP BY 1, 2");
    rows.bind(1, start);
    rows.bind(2, width);
    while (rows.step()) {
        auto bucket = static_cast<size_t>(rows.column_int(0));
        if (bucket >= buckets) continue;  // a start_time after every end_time: a damaged row
        int64_t id = shown.contains(rows.column_int(1)) ? rows.column_int(1) : kOtherProtocols;
        auto& [connections, bytes] = series[id];
        connections.resize(buckets);
        bytes.resize(buckets);
        connections[bucket] += rows.column_int(2);
        bytes[bucket] += rows.column_int(3);
    }
    for (const json& row : by_protocol) {
        int64_t id = row["id"].get<int64_t>();
        if (!shown.contains(id)) continue;
        auto& [connections, bytes] = series[id];
        out["series"].push_back({{"id", id}, {"connections", connections}, {"bytes", bytes}});
    }
    if (series.contains(kOtherProtocols)) {
        auto& [connections, bytes] = series[kOtherProtocols];
        out["series"].push_back(
            {{"id", kOtherProtocols}, {"connections", connections}, {"bytes", bytes}});
    }
    return out;
}

// Sorts a comma-separated port list in ascending order and keeps the first kMaxPorts.
// SQLite's group_concat() lists the ports in the order of the stored events, which several
// analysis threads do not fix. The bound keeps the endpoint of a port scan from making the
// page grow with the number of ports.
std::string first_ports(const std::string& ports) {
    constexpr size_t kMaxPorts = 6;
    std::vector<int64_t> numbers;
    for (size_t start = 0; start <= ports.size();) {
        size_t end = ports.find(',', start);
        if (end == std::string::npos) end = ports.size();
        int64_t number = 0;
        const char* first = ports.data() + start;
        const char* last = ports.data() + end;
        if (std::from_chars(first, last, number).ptr == last && first != last) {
            numbers.push_back(number);
        }
        start = end + 1;
    }
    std::sort(numbers.begin(), numbers.end());
    std::string out;
    for (size_t i = 0; i < std::min(numbers.size(), kMaxPorts); ++i) {
        if (i > 0) out += ',';
        out += std::to_string(numbers[i]);
    }
    if (numbers.size() > kMaxPorts) out += fmt::format(" and {} more", numbers.size() - kMaxPorts);
    return out;
}

// The top rows of report_connections grouped by `key` (a column name of this file, never
// input), each with its split by application protocol.
json top_groups(store::Database& db, const std::string& key, const Limits& limits) {
    std::string top = "SELECT " + key + " FROM report_connections WHERE coalesce(" + key +
                      ", '') != '' GROUP BY " + key +
                      " ORDER BY sum(bytes_in) + sum(bytes_out) DESC, count(*) DESC, " + key +
                      " LIMIT ?";
    store::Statement groups =
        db.prepare("SELECT " + key +
                   ", count(*), sum(bytes_in), sum(bytes_out), count(DISTINCT process_pid), "
                   "group_concat(DISTINCT target_port) FROM report_connections WHERE " +
                   key + " IN (" + top + ") GROUP BY " + key +
                   " ORDER BY sum(bytes_in) + sum(bytes_out) DESC, count(*) DESC, " + key);
    groups.bind(1, static_cast<int64_t>(limits.top));
    json out = json::array();
    std::map<std::string, size_t> index;
    while (groups.step()) {
        index[groups.column_text(0)] = out.size();
        out.push_back({{"name", groups.column_text(0)},
                       {"connections", groups.column_int(1)},
                       {"bytes_in", groups.column_int(2)},
                       {"bytes_out", groups.column_int(3)},
                       {"pids", groups.column_int(4)},
                       {"ports", first_ports(groups.column_text(5))},
                       {"protocols", json::array()}});
    }
    store::Statement split = db.prepare("SELECT " + key +
                                        ", protocol, count(*), sum(bytes_in) + sum(bytes_out) "
                                        "FROM report_connections WHERE " +
                                        key + " IN (" + top +
                                        ") GROUP BY 1, 2 "
                                        "ORDER BY 4 DESC, 3 DESC");
    split.bind(1, static_cast<int64_t>(limits.top));
    while (split.step()) {
        auto found = index.find(split.column_text(0));
        if (found == index.end()) continue;
        out[found->second]["protocols"].push_back({{"id", split.column_int(1)},
                                                   {"connections", split.column_int(2)},
                                                   {"bytes", split.column_int(3)}});
    }
    return out;
}

// Transfer content types (files, images, documents, markup) seen in the connections.
json content_types(store::Database& db) {
    store::Statement rows = db.prepare(
        "SELECT p.protocol_id, count(*), sum(c.bytes_in) + sum(c.bytes_out) "
        "FROM report_connections c JOIN event_protocols p ON p.event_id = c.id "
        "JOIN report_protocols n ON n.id = p.protocol_id AND n.kind = 2 "
        "GROUP BY p.protocol_id ORDER BY count(*) DESC, p.protocol_id");
    json out = json::array();
    while (rows.step()) {
        out.push_back({{"id", rows.column_int(0)},
                       {"connections", rows.column_int(1)},
                       {"bytes", rows.column_int(2)}});
    }
    return out;
}

// Counts the connections by the end reason of their disconnect events.
json end_reasons(store::Database& db) {
    store::Statement rows = db.prepare(
        "SELECT coalesce(e.reason, ''), count(*) FROM report_connections c "
        "JOIN events e ON e.connection_uid = c.connection_uid AND e.device IS c.device "
        "AND e.activity_id = 2 GROUP BY 1 ORDER BY 2 DESC");
    json out = json::array();
    while (rows.step())
        out.push_back({{"reason", rows.column_text(0)}, {"connections", rows.column_int(1)}});
    return out;
}

// The first connections by time, with every protocol in detection order.
json connection_rows(store::Database& db, const json& total, const Limits& limits) {
    store::Statement rows = db.prepare(
        "SELECT c.start_time, c.end_time - c.start_time, c.source_ip, c.source_port, c.target_ip, "
        "c.target_port, c.ip_protocol, c.protocol, "
        "(SELECT group_concat(name, ' ') FROM (SELECT n.name FROM event_protocols p "
        " JOIN report_protocols n ON n.id = p.protocol_id WHERE p.event_id = c.id "
        " ORDER BY p.position)), "
        "c.bytes_out, c.bytes_in, coalesce(c.process_name, ''), coalesce(c.device, ''), "
        "c.connection_uid FROM report_connections c ORDER BY c.start_time, c.id LIMIT ?");
    rows.bind(1, static_cast<int64_t>(limits.table_rows));
    json list = json::array();
    while (rows.step()) {
        list.push_back({rows.column_int(0), rows.column_int(1), rows.column_text(2),
                        rows.column_int(3), rows.column_text(4), rows.column_int(5),
                        rows.column_int(6), rows.column_int(7), rows.column_text(8),
                        rows.column_int(9), rows.column_int(10), rows.column_text(11),
                        rows.column_text(12), rows.column_text(13)});
    }
    int64_t count = total["connections"].get<int64_t>();
    return {{"columns",
             {"start", "duration_ms", "source_ip", "source_port", "target_ip", "target_port",
              "ip_protocol", "protocol", "protocols", "bytes_out", "bytes_in", "process", "device",
              "connection_uid"}},
            {"rows", list},
            {"rest", count - static_cast<int64_t>(list.size())}};
}

// Names and colors of every protocol id the data refers to.
json protocol_legend() {
    json out = json::object();
    out["0"] = {{"name", "unidentified"}, {"color", protocol_color(0)}};
    out[std::to_string(kOtherProtocols)] = {{"name", "other"},
                                            {"color", protocol_color(kOtherProtocols)}};
    for (const ProtocolInfo& info : protocol_table()) {
        int id = static_cast<uint16_t>(info.id);
        out[std::to_string(id)] = {{"name", std::string(info.name)}, {"color", protocol_color(id)}};
    }
    return out;
}

}  // namespace

nlohmann::json aggregate(store::Database& db, const query::SqlFilter& filter,
                         const Limits& limits) {
    // One read transaction, so that every query reads the same snapshot while an agent writes.
    db.execute("BEGIN");
    try {
        stage_connections(db, filter);
        json data;
        data["totals"] = totals(db);
        data["devices"] = devices(db, limits);
        data["protocol_totals"] = protocol_totals(db);
        data["timeline"] = timeline(db, data["totals"], data["protocol_totals"], limits);
        data["processes"] = top_groups(db, "process_name", limits);
        data["endpoints"] = top_groups(db, "remote_ip", limits);
        data["content_types"] = content_types(db);
        data["end_reasons"] = end_reasons(db);
        data["connections"] = connection_rows(db, data["totals"], limits);
        data["protocols"] = protocol_legend();
        db.execute("COMMIT");
        return data;
    } catch (...) {
        sqlite3_exec(db.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

}  // namespace pw::report
