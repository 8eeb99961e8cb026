// Opens protowatch reports in headless Chromium through playwright-core and checks what a
// reader gets: no console error, no request beyond the page itself, drawn charts, a table
// that filters and sorts, no horizontal overflow at 1366 px. Saves a screenshot of each.
//
// node check_report.mjs --chromium PATH --binary PROTOWATCH --out DIR REPORT.html...
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../../web/package.json"));
const { chromium } = require("playwright-core");

const args = process.argv.slice(2);
const option = (name) => args[args.indexOf(name) + 1];
const reports = args.filter((arg, i) => arg.endsWith(".html") && !args[i - 1]?.startsWith("--"));
const failures = [];
let passed = 0;

function check(condition, message) {
  if (condition) {
    passed += 1;
  } else {
    failures.push(message);
    console.log("FAIL: " + message);
  }
}

// Attributes and CSS that would make a browser fetch something.
function checkNoExternalReferences(name, html) {
  const patterns = [/\s(src|href|action|poster|srcset)\s*=\s*["']?(https?:)?\/\//i, /@import/i,
                    /url\(\s*["']?(https?:)?\/\//i, /<link\b/i, /<iframe\b/i, /<script[^>]*\ssrc=/i];
  for (const pattern of patterns) check(!pattern.test(html), `${name}: the HTML matches ${pattern}`);
}

// Counts the SVG shapes of a chart filled or stroked with the colors of its series, which
// are the drawn data rather than axes, grid lines or the legend's text.
async function drawnShapes(page, id) {
  return page.evaluate((chartId) => {
    const node = document.getElementById(chartId);
    const chart = echarts.getInstanceByDom(node);
    if (!chart) return { series: 0, shapes: 0 };
    const colors = new Set(chart.getOption().series.map((s) => s.color.toLowerCase()));
    const shapes = [...node.querySelectorAll("svg path, svg rect")].filter((shape) => {
      const fill = (shape.getAttribute("fill") || "").toLowerCase();
      const stroke = (shape.getAttribute("stroke") || "").toLowerCase();
      return colors.has(fill) || colors.has(stroke);
    });
    return { series: chart.getOption().series.length, shapes: shapes.length };
  }, id);
}

async function visibleRows(page) {
  return page.$$eval("#connection-table tbody tr", (rows) => rows.map((row) =>
    [...row.cells].map((cell) => cell.textContent)));
}

async function checkTable(page, name) {
  const all = await visibleRows(page);
  check(all.length > 1, `${name}: the table has ${all.length} rows, expected more than 1`);

  await page.fill("#table-filter", "dns");
  const filtered = await visibleRows(page);
  check(filtered.length > 0 && filtered.length < all.length,
        `${name}: filtering for "dns" left ${filtered.length} of ${all.length} rows`);
  check(filtered.every((row) => row.join(" ").toLowerCase().includes("dns")),
        `${name}: a row without "dns" stayed after filtering for it`);
  await page.fill("#table-filter", "");
  check((await visibleRows(page)).length === all.length, `${name}: clearing the filter did not restore the rows`);

  const bytesIn = 7;  // the column index of "Bytes in"
  const numbers = async () => (await visibleRows(page)).map((row) => Number(row[bytesIn].replace(/,/g, "")));
  const header = page.locator("#connection-table th button", { hasText: "Bytes in" });
  await header.click();
  const ascending = await numbers();
  check(ascending.every((v, i) => i === 0 || ascending[i - 1] <= v), `${name}: sorting by bytes in is not ascending`);
  await header.click();
  const descending = await numbers();
  check(descending.every((v, i) => i === 0 || descending[i - 1] >= v), `${name}: sorting twice is not descending`);
  check(descending[0] > descending[descending.length - 1], `${name}: the sorted bytes in are all equal`);
}

// The command under the table must print the statistics events of every connection.
function checkSearchCommand(name, command, connections) {
  const binary = option("--binary");
  const words = [...command.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) => m[1] ?? m[2]);
  check(words[0] === "protowatch" && words[1] === "search", `${name}: not a search command: ${command}`);
  const output = execFileSync(binary, [...words.slice(1), "--format", "jsonl"], { encoding: "utf8" });
  const uids = new Set(output.trim().split("\n").map((line) => JSON.parse(line).connection_uid));
  check(uids.size === connections, `${name}: the search command found ${uids.size} connections, the report ${connections}`);
}

async function checkReport(browser, file) {
  const name = path.basename(file);
  const html = readFileSync(file, "utf8");
  checkNoExternalReferences(name, html);

  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  const url = pathToFileURL(file).href;
  const requests = [];
  const errors = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("console", (message) => { if (message.type() === "error") errors.push(message.text()); });
  page.on("pageerror", (error) => errors.push(error.message));
  // Record everything, and let nothing but the page itself leave the browser.
  await context.route("**/*", (route) => (route.request().url() === url ? route.continue() : route.abort()));

  await page.goto(url, { waitUntil: "load" });
  check(errors.length === 0, `${name}: console errors: ${errors.join(" | ")}`);
  check(requests.length === 1 && requests[0] === url, `${name}: requests other than the page: ${requests.join(", ")}`);

  for (const id of ["chart-mix", "chart-protocol-bytes", "chart-protocol-connections", "chart-endpoints",
                    "chart-content"]) {
    const drawn = await drawnShapes(page, id);
    check(drawn.series > 0 && drawn.shapes >= drawn.series,
          `${name}: ${id} drew ${drawn.shapes} shapes for ${drawn.series} series`);
  }
  // The sample capture has no process attribution, which only the live agent records.
  const processes = await page.textContent("#chart-processes");
  check(processes.includes("No process data"), `${name}: the process section does not say "No process data"`);

  await page.click("#mix .switch button[data-measure=connections]");
  const axis = await page.evaluate(() =>
    echarts.getInstanceByDom(document.getElementById("chart-mix")).getOption().yAxis[0].name);
  check(axis === "connections per interval", `${name}: the mix's switch left the axis "${axis}"`);
  const switched = await drawnShapes(page, "chart-mix");
  check(switched.shapes >= switched.series && switched.series > 0, `${name}: the mix drew nothing after the switch`);
  await page.click("#mix .switch button[data-measure=bytes]");

  const width = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(width[0] <= width[1], `${name}: the page is ${width[0]} px wide in a ${width[1]} px window`);

  await checkTable(page, name);
  const data = await page.evaluate(() => JSON.parse(document.getElementById("report-data").textContent));
  const rest = await page.textContent("#table-rest");
  if (data.connections.rest > 0) {
    check(rest.includes(`${data.connections.rest} more are not shown`), `${name}: the table does not count the rest: ${rest}`);
  }
  if (data.scope.search_command) checkSearchCommand(name, data.scope.search_command, data.totals.connections);

  await page.screenshot({ path: path.join(option("--out"), name.replace(/\.html$/, ".png")), fullPage: true });
  check(requests.length === 1, `${name}: requests after interacting: ${requests.join(", ")}`);
  await context.close();
}

const browser = await chromium.launch({ executablePath: option("--chromium"), args: ["--no-sandbox"] });
try {
  for (const file of reports) await checkReport(browser, file);
} finally {
  await browser.close();
}
console.log(`${passed} passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
