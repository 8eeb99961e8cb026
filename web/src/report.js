// Draws the report from the JSON data that protowatch embedded in the page. The data is
// already aggregated (by SQLite, when the report was written), so this script only turns
// it into charts, lists and the connection table.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("report-data").textContent);
  const charts = [];

  // Decimal units, as network tools count bytes: 1 kB = 1000 B.
  function formatBytes(value) {
    const units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let scaled = Number(value);
    let unit = 0;
    while (Math.abs(scaled) >= 1000 && unit < units.length - 1) {
      scaled /= 1000;
      unit += 1;
    }
    return (unit === 0 ? String(scaled) : scaled.toFixed(scaled < 10 ? 2 : 1)) + " " + units[unit];
  }
  const formatCount = (value) => Number(value).toLocaleString("en-US");
  const formatters = { bytes: formatBytes, connections: formatCount };
  const axisNames = { bytes: "bytes (kB = 1000 B)", connections: "connections" };

  function formatTime(ms) {
    return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }
  function formatDuration(ms) {
    if (ms < 1000) return ms + " ms";
    const seconds = ms / 1000;
    if (seconds < 120) return seconds.toFixed(1) + " s";
    if (seconds < 7200) return (seconds / 60).toFixed(1) + " min";
    if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
    return (seconds / 86400).toFixed(1) + " d";
  }
  const protocol = (id) => data.protocols[String(id)] || { name: "id " + id, color: "#8c8c8c" };

  // An address with its port or ports, IPv6 addresses in brackets as in URLs (RFC 3986).
  function endpoint(address, ports) {
    return (address.includes(":") ? "[" + address + "]" : address) + ":" + ports;
  }

  function element(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function showEmpty(chartId, message) {
    const node = document.getElementById(chartId);
    node.className = "empty";
    node.textContent = message;
  }

  function makeChart(chartId, option) {
    const chart = echarts.init(document.getElementById(chartId), null, { renderer: "svg" });
    chart.setOption(Object.assign({ useUTC: true, animation: false }, option));
    charts.push(chart);
    return chart;
  }

  function protocolSeries(id, type, values, stack) {
    const color = protocol(id).color;
    return {
      name: protocol(id).name, type: type, stack: stack, data: values, color: color,
      itemStyle: { color: color }, lineStyle: { color: color, width: 1 },
      emphasis: { focus: "series" },
    };
  }

  // A horizontal bar chart: one bar per category, split into one colored part per protocol.
  // `series` is [{id, values}], values aligned with `categories`.
  function barChart(chartId, categories, series, measure, categoryName) {
    const formatter = formatters[measure];
    makeChart(chartId, {
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: formatter },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 56, top: 28, bottom: 56, containLabel: true },
      xAxis: { type: "value", name: axisNames[measure], nameLocation: "middle", nameGap: 28,
               minInterval: measure === "connections" ? 1 : 0, axisLabel: { formatter: formatter } },
      yAxis: { type: "category", name: categoryName, nameLocation: "start", data: categories, inverse: true,
               nameTextStyle: { align: "right", fontWeight: "bold" },
               axisLabel: { width: 190, overflow: "truncate" } },
      series: series.map((s) => protocolSeries(s.id, "bar", s.values, "total")),
    });
  }

  // One bar per protocol, each its own series so the legend names and colors it.
  function protocolRanking(chartId, rows, measure, valueOf) {
    const top = rows.slice().sort((a, b) => valueOf(b) - valueOf(a)).slice(0, 12);
    if (top.length === 0) return showEmpty(chartId, "No connections in the report's scope.");
    const categories = top.map((row) => protocol(row.id).name);
    const series = top.map((row, index) => ({
      id: row.id, values: categories.map((_, i) => (i === index ? valueOf(row) : null)),
    }));
    barChart(chartId, categories, series, measure, "protocol");
  }

  // Bars of top groups (processes, endpoints) split by application protocol.
  function groupChart(chartId, groups, categoryName, label, emptyMessage) {
    if (groups.length === 0) return showEmpty(chartId, emptyMessage);
    const ids = [];
    groups.forEach((g) => g.protocols.forEach((p) => { if (!ids.includes(p.id)) ids.push(p.id); }));
    const series = ids.map((id) => ({
      id: id,
      values: groups.map((g) => {
        const part = g.protocols.find((p) => p.id === id);
        return part ? part.bytes : null;
      }),
    }));
    barChart(chartId, groups.map(label), series, "bytes", categoryName);
  }

  function drawMix() {
    const timeline = data.timeline;
    if (timeline.series.length === 0) return showEmpty("chart-mix", "No connections in the report's scope.");
    const times = timeline.series[0].bytes.map((_, i) => timeline.start_ms + i * timeline.bucket_ms);
    const seriesFor = (measure) => timeline.series.map((s) => {
      const entry = protocolSeries(s.id, "line", s[measure].map((v, i) => [times[i], v]), measure);
      return Object.assign(entry, { areaStyle: { color: entry.color, opacity: 0.85 }, symbol: "none", step: "start" });
    });
    const optionFor = (measure) => ({
      tooltip: { trigger: "axis", valueFormatter: formatters[measure] },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 8, right: 40, top: 36, bottom: 64, containLabel: true },
      xAxis: { type: "time", name: "time (UTC), " + formatDuration(timeline.bucket_ms) + " per interval",
               nameLocation: "middle", nameGap: 28 },
      yAxis: { type: "value", name: measure + " per interval", nameTextStyle: { align: "left" },
               minInterval: measure === "connections" ? 1 : 0, axisLabel: { formatter: formatters[measure] } },
      series: seriesFor(measure),
    });
    const chart = makeChart("chart-mix", optionFor("bytes"));
    document.querySelectorAll("#mix .switch button").forEach((button) => {
      button.addEventListener("click", () => {
        document.querySelectorAll("#mix .switch button").forEach((b) =>
          b.setAttribute("aria-pressed", String(b === button)));
        chart.setOption(Object.assign({ useUTC: true, animation: false }, optionFor(button.dataset.measure)),
                        { notMerge: true });
      });
    });
  }

  function drawOverview() {
    const totals = data.totals;
    const items = [
      ["Time span", totals.first_ms === null ? "no connections"
        : formatTime(totals.first_ms) + " to " + formatTime(totals.last_ms) +
          " (" + formatDuration(totals.last_ms - totals.first_ms) + ")"],
      ["Devices", data.devices.length === 0 ? "none" : data.devices.map((d) => d.name || "not named (analyze --device)").join(", ") +
        (totals.devices > data.devices.length ? " and " + (totals.devices - data.devices.length) + " more" : "")],
      ["Connections", formatCount(totals.connections)],
      ["Bytes in", formatBytes(totals.bytes_in) + " (" + formatCount(totals.bytes_in) + " B)"],
      ["Bytes out", formatBytes(totals.bytes_out) + " (" + formatCount(totals.bytes_out) + " B)"],
    ];
    const list = document.getElementById("overview");
    for (const [term, value] of items) {
      const group = element("div");
      group.append(element("dt", term), element("dd", value));
      list.append(group);
    }
    const scope = data.scope;
    const parts = ["Store " + scope.store, "generated " + formatTime(scope.generated_ms)];
    if (scope.query) parts.push("query: " + scope.query);
    document.getElementById("scope").textContent = parts.join("; ");
  }

  function countsTable(title, rows) {
    const box = element("div");
    box.append(element("h3", title));
    const table = element("table", undefined, "counts");
    for (const [name, value] of rows) {
      const row = table.insertRow();
      row.append(element("td", name), element("td", formatCount(value), "number"));
    }
    box.append(table);
    return box;
  }

  function drawAnomalies() {
    const box = document.getElementById("anomaly-lists");
    const reasons = data.end_reasons.map((r) => ["ended by " + (r.reason || "unknown"), r.connections]);
    reasons.push(["first seen without their start (partial)", data.totals.partial]);
    box.append(countsTable("Connections", reasons));
    const analysis = data.analysis;
    if (!analysis) {
      box.append(element("p", "The store does not record decoder anomalies or capture drops, so this " +
        "report built from the store has none to show. Reports written by " +
        "`protowatch analyze --report` include the counts of their analysis.", "note"));
      return;
    }
    const rows = [["frames read", analysis.frames], ["frames skipped as malformed", analysis.malformed],
                  ["frames of unsupported link types", analysis.unsupported_frames],
                  ["frames not tracked (not IP, or another transport)", analysis.not_tracked],
                  ["TCP stream gaps skipped", analysis.tcp_gaps], ["flows evicted", analysis.flows_evicted]];
    for (const [name, count] of Object.entries(analysis.anomalies)) rows.push([name, count]);
    box.append(countsTable("Analysis of the capture files", rows));
    box.append(element("p", analysis.capture_drops_note, "note"));
  }

  // The connection table: rows sort by a click on a column header and filter by the
  // words typed, each of which must occur in the row.
  function drawTable() {
    const table = data.connections;
    const columns = [
      { title: "Start (UTC)", value: (r) => r[0], text: (r) => formatTime(r[0]).replace(" UTC", "") },
      { title: "Duration", value: (r) => r[1], text: (r) => formatDuration(r[1]), number: true },
      { title: "Source", value: (r) => endpoint(r[2], r[3]) },
      { title: "Target", value: (r) => endpoint(r[4], r[5]) },
      { title: "Transport", value: (r) => ({ 6: "TCP", 17: "UDP", 1: "ICMP", 58: "ICMPv6", 2: "IGMP" }[r[6]] || String(r[6])) },
      { title: "Protocols", value: (r) => r[8] || "", className: "wrap" },
      { title: "Bytes out", value: (r) => r[9], text: (r) => formatCount(r[9]), number: true },
      { title: "Bytes in", value: (r) => r[10], text: (r) => formatCount(r[10]), number: true },
      { title: "Process", value: (r) => r[11] },
      { title: "Device", value: (r) => r[12] },
    ];
    const head = document.querySelector("#connection-table thead").insertRow();
    const body = document.querySelector("#connection-table tbody");
    const rows = table.rows.map((r) => {
      const tr = element("tr");
      const texts = columns.map((c) => (c.text ? c.text(r) : String(c.value(r))));
      texts.forEach((text, i) => tr.append(element("td", text, columns[i].number ? "number" : columns[i].className)));
      return { record: r, node: tr, search: (texts.join(" ") + " " + r[13]).toLowerCase() };
    });
    let order = rows.slice();
    const filterInput = document.getElementById("table-filter");
    const count = document.getElementById("table-count");

    function render() {
      const words = filterInput.value.toLowerCase().split(/\s+/).filter(Boolean);
      const shown = order.filter((row) => words.every((w) => row.search.includes(w)));
      body.replaceChildren(...shown.map((row) => row.node));
      count.textContent = shown.length + " of " + rows.length + " rows shown";
    }

    columns.forEach((column, index) => {
      const th = element("th", undefined, column.number ? "number" : undefined);
      const button = element("button", column.title);
      button.type = "button";
      button.addEventListener("click", () => {
        const ascending = th.getAttribute("aria-sort") !== "ascending";
        head.querySelectorAll("th").forEach((cell) => cell.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        const direction = ascending ? 1 : -1;
        order = rows.slice().sort((a, b) => {
          const x = column.value(a.record);
          const y = column.value(b.record);
          return direction * (typeof x === "number" ? x - y : String(x).localeCompare(String(y)));
        });
        render();
      });
      th.append(button);
      head.append(th);
    });
    filterInput.addEventListener("input", render);
    render();

    const rest = document.getElementById("table-rest");
    if (table.rest > 0) {
      rest.append(element("span", "The table holds the first " + formatCount(rows.length) +
        " connections by start time; " + formatCount(table.rest) + " more are not shown. " +
        "This command prints the statistics events of all of them: "), element("code", data.scope.search_command));
    } else if (data.scope.search_command) {
      rest.append(element("span", "All connections are shown. The command that prints their statistics events: "),
        element("code", data.scope.search_command));
    } else {
      rest.textContent = "All connections are shown.";
    }
  }

  drawOverview();
  drawMix();
  protocolRanking("chart-protocol-bytes", data.protocol_totals, "bytes", (r) => r.bytes_in + r.bytes_out);
  protocolRanking("chart-protocol-connections", data.protocol_totals, "connections", (r) => r.connections);
  groupChart("chart-processes", data.processes, "process (pids)", (g) => g.name + " (" + g.pids + (g.pids === 1 ? " pid)" : " pids)"),
    "No process data: processes are attributed by the live agent, and these connections carry none.");
  groupChart("chart-endpoints", data.endpoints, "address:ports", (g) => (g.ports ? endpoint(g.name, g.ports) : g.name),
    "No connections in the report's scope.");
  if (data.content_types.length === 0) {
    showEmpty("chart-content", "No content types were identified in these connections' transfers.");
  } else {
    const names = data.content_types.map((c) => protocol(c.id).name);
    barChart("chart-content", names, data.content_types.map((c, index) => ({
      id: c.id, values: names.map((_, i) => (i === index ? c.connections : null)),
    })), "connections", "content type");
  }
  drawAnomalies();
  drawTable();
  window.addEventListener("resize", () => charts.forEach((chart) => chart.resize()));
})();
