// Browser test of `perfscope serve` (issue 23): the web UI on a real recording of ps-burn, with a
// baseline in which burn_a cost a third of what it costs now, opened in headless Chromium and
// driven through Playwright: every view loads without script errors, clicking burn_a's frame
// zooms to it and lists its callers (work), the search highlights frames, the table sorts, a
// filter and a time window narrow the views, and the diff view colours burn_a's regression red.
// Screenshots go to the output directory; the page must fetch nothing but its own server.
//
//   node serve.spec.mjs PERFSCOPE PS_BURN WORK_DIR OUTPUT_DIR
//
// The same skip rules as flamegraph.spec.mjs (whose helpers it shares in spirit, not in code:
// each spec is one file CTest runs): no Node 20, no chromium, no playwright-core, or sampling not
// allowed: "SKIP: reason", exit 77.
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
const [perfscope, burn, work, outDir] = process.argv.slice(2);
if (!perfscope || !burn || !work || !outDir) {
  console.error("usage: node serve.spec.mjs PERFSCOPE PS_BURN WORK_DIR OUTPUT_DIR");
  process.exit(2);
}
const chromiumPath = process.env.PERFSCOPE_CHROMIUM || "/usr/bin/chromium";
const started = Date.now();
mkdirSync(work, { recursive: true });
mkdirSync(outDir, { recursive: true });
if (Number(process.versions.node.split(".")[0]) < 20) {
  console.log(`SKIP: Node ${process.versions.node} is too old for playwright-core (needs 20)`);
  process.exit(SKIP);
}

function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(SKIP);
}

function sh(name, command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 300_000, ...options });
  writeFileSync(path.join(work, `${name}.log`), `${r.stdout ?? ""}${r.stderr ?? ""}`);
  return r;
}

function ensureChromium() {
  if (existsSync(chromiumPath)) return;
  if (process.getuid?.() !== 0) skip(`${chromiumPath} is missing; as root, apt-get install chromium`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "-qq", "--no-install-recommends", "chromium"];
  let r = sh("apt-install", "apt-get", install, { env });
  if (r.status !== 0) {
    sh("apt-update", "apt-get", ["update", "-qq"], { env });
    r = sh("apt-install", "apt-get", install, { env });
  }
  if (r.status !== 0) skip(`chromium is not installed and apt-get could not install it (${work}/apt-install.log)`);
  if (!existsSync(chromiumPath)) skip(`apt-get installed chromium, but ${chromiumPath} is missing`);
}

function ensurePlaywright() {
  const lock = readFileSync(path.join(here, "package-lock.json"), "utf8");
  const installed = path.join(work, "package-lock.json");
  const module = path.join(work, "node_modules", "playwright-core", "package.json");
  if (existsSync(module) && existsSync(installed) && readFileSync(installed, "utf8") === lock) return;
  copyFileSync(path.join(here, "package.json"), path.join(work, "package.json"));
  copyFileSync(path.join(here, "package-lock.json"), installed);
  const r = sh("npm-ci", "npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], { cwd: work });
  if (r.error?.code === "ENOENT") skip("npm is not installed (apt-get install npm)");
  if (r.status !== 0 || !existsSync(module)) skip(`npm could not install playwright-core (${work}/npm-ci.log)`);
}

const BURN_A = "perfscope_targets::burn_a(unsigned long, unsigned long)";
const WORK = "perfscope_targets::work(unsigned long, unsigned long)";

// ps-burn recorded with the perf backend (its samples carry time labels), and the baseline:
// the same stacks as folded text, burn_a's at a third of their count.
function record() {
  const profile = path.join(work, "serve-burn.pb.gz");
  const r = sh("serve-record", perfscope, ["record", "--backend", "perf", "-F", "999", "-o", profile, "--", burn, "1000"]);
  if (r.status !== 0) {
    const paranoid = Number(readFileSync("/proc/sys/kernel/perf_event_paranoid", "utf8"));
    if (process.getuid?.() !== 0 && paranoid > 2) skip(`sampling is not allowed (perf_event_paranoid ${paranoid})`);
    throw new Error(`perfscope record failed:\n${r.stdout}${r.stderr}`);
  }
  const folded = sh("serve-folded", perfscope, ["report", "-i", profile, "--folded"]);
  if (folded.status !== 0) throw new Error(`perfscope report --folded failed:\n${folded.stderr}`);
  const base = folded.stdout
    .split("\n")
    .filter((l) => l)
    .map((l) => {
      const at = l.lastIndexOf(" ");
      const n = Number(l.slice(at + 1));
      return [l.slice(0, at), l.includes("burn_a") ? Math.floor(n / 3) : n];
    })
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${s} ${n}\n`)
    .join("");
  const basePath = path.join(work, "serve-base.folded");
  writeFileSync(basePath, base);
  return { profile, base: basePath };
}

// perfscope serve on a free port; resolves with its URL once it printed it (its readiness).
function serve(args) {
  const child = spawn(perfscope, ["serve", "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const line = out.split("\n")[0];
      if (out.includes("\n")) resolve({ child, url: line, log: () => err });
    });
    child.on("exit", (code) => reject(new Error(`perfscope serve exited (${code}):\n${err}`)));
  });
}

let checks = 0;
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  checks++;
}

async function testViews(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const errors = [];
  const foreign = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("request", (r) => {
    if (!r.url().startsWith(url)) foreign.push(r.url());
  });
  await page.goto(url);
  await page.evaluate(() => window.perfscope.ready());

  // Top: burn_a first, sortable by total, searchable.
  const rows = page.locator("#top-table tbody tr");
  check((await rows.first().locator("td").first().textContent()) === BURN_A, "burn_a tops the table");
  await page.locator('#top-table th[data-key="total"] button').click();
  const totals = (await rows.locator("td:nth-child(4)").allTextContents()).map(Number);
  check(totals.every((v, i) => i === 0 || totals[i - 1] >= v), "sorted by total, descending");
  check((await page.locator('#top-table th[data-key="total"]').getAttribute("aria-sort")) === "descending", "aria-sort");
  await page.locator("#search").fill("burn_b");
  check((await rows.count()) === 1, `the search keeps burn_b's row (${await rows.count()})`);
  await page.screenshot({ path: path.join(outDir, "serve-top.png"), fullPage: true });
  await page.locator("#search").fill("");

  // Flame graph: burn_a's widest frame, clicked: zoomed to the width, its callers listed.
  await page.locator('#tabs button[data-view="flame"]').click();
  await page.evaluate(() => window.perfscope.ready());
  const flame = page.locator("#view-flame");
  const frames = flame.locator(`.fr[aria-label="${BURN_A}"]`);
  check((await frames.count()) > 0, "the flame graph draws burn_a");
  let widest = frames.first();
  let best = -1;
  for (const f of await frames.all()) {
    const b = await f.boundingBox();
    if (b && b.width > best) [best, widest] = [b.width, f];
  }
  const graphBox = await flame.locator(".graph").boundingBox();
  check(best > graphBox.width * 0.5, `burn_a takes most of the width (${best} of ${graphBox.width})`);
  await widest.hover();
  check(/^perfscope_targets::burn_a.*\d+\.\d\d%/.test(await page.locator("#tooltip").textContent()), "the tooltip names burn_a");
  await widest.click();
  await page.evaluate(() => window.perfscope.ready());
  const zoomed = await flame.locator(".fr.selected").boundingBox();
  check(Math.abs(zoomed.width - graphBox.width) < 4, `the clicked frame fills the width (${zoomed.width})`);
  check(await flame.locator(".unzoom").isVisible(), "reset zoom is offered");
  const callers = await page.locator("#selection-callers li > span.name").allTextContents();
  check(callers[0] === BURN_A && callers[1] === WORK, `burn_a's callers start with work: ${callers.slice(0, 3)}`);
  await page.screenshot({ path: path.join(outDir, "serve-flame-callers.png"), fullPage: true });

  // Search in the graph: burn_b's frames highlighted, the matched share shown.
  await flame.locator(".unzoom").click();
  await page.locator("#search").fill("burn_b");
  check((await flame.locator(".fr.match").count()) > 0, "search highlights burn_b's frames");
  const matched = Number(/Matched: ([\d.]+)%/.exec(await page.locator("#matched").textContent())[1]);
  check(matched > 5 && matched < 45, `burn_b has about a quarter (${matched}%)`);
  await page.locator("#search").fill("");

  // Icicle: the root at the top.
  await page.locator('#tabs button[data-view="icicle"]').click();
  await page.evaluate(() => window.perfscope.ready());
  const icicle = page.locator("#view-icicle");
  const root = await icicle.locator('.fr[data-i="0"]').boundingBox();
  check(Math.abs(root.y - (await icicle.locator(".graph").boundingBox()).y) < 2, "the icicle's root is at the top");
  await page.screenshot({ path: path.join(outDir, "serve-icicle.png") });

  // Callers / callees of the selected function, and its source lines.
  await page.locator('#tabs button[data-view="callers"]').click();
  await page.evaluate(() => window.perfscope.ready());
  check((await page.locator("#callers-tree li > span.name").nth(1).textContent()) === WORK, "the callers view shows work");
  await page.screenshot({ path: path.join(outDir, "serve-callers.png"), fullPage: true });
  await page.locator('#tabs button[data-view="source"]').click();
  await page.evaluate(() => window.perfscope.ready());
  check((await page.locator("#source-table tr.hot").count()) > 0, "the source view marks sampled lines");
  check(/burn\.cpp:\d+/.test(await page.locator("#source-table").textContent()), "burn.cpp lines are listed");
  await page.screenshot({ path: path.join(outDir, "serve-source.png"), fullPage: true });

  // Filters: a thread (the only one: the same total), then a time window on the timeline.
  await page.locator('#tabs button[data-view="top"]').click();
  await page.evaluate(() => window.perfscope.ready());
  check(await page.locator("#timeline").isVisible(), "the timeline is shown");
  const tids = await page.locator("#f-tid option").count();
  check(tids >= 2, "threads are offered as filters");
  const selfSum = async () => (await rows.locator("td:nth-child(2)").allTextContents()).map(Number).reduce((a, b) => a + b, 0);
  const all = await selfSum();
  await page.locator("#f-tid").selectOption({ index: 1 });
  await page.evaluate(() => window.perfscope.ready());
  const oneThread = await selfSum();
  check(oneThread > 0 && oneThread <= all, `a thread's samples are shown (${oneThread} of ${all})`);
  const tl = await page.locator("#timeline").boundingBox();
  await page.mouse.move(tl.x + 2, tl.y + tl.height / 2);
  await page.mouse.down();
  await page.mouse.move(tl.x + tl.width / 2, tl.y + tl.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.evaluate(() => window.perfscope.ready());
  check(await page.locator("#timeline-window").isVisible(), "the time window is drawn");
  const part = await selfSum();
  check(part > 0 && part < oneThread, `a time window shows part of the samples (${part} of ${oneThread})`);
  await page.screenshot({ path: path.join(outDir, "serve-time-window.png"), fullPage: true });
  await page.locator("#time-clear").click();
  await page.evaluate(() => window.perfscope.ready());
  check((await selfSum()) === oneThread, "the whole recording again (of the thread)");

  check(errors.length === 0, `no script errors: ${errors.join("; ")}`);
  check(foreign.length === 0, `the page fetched nothing elsewhere: ${foreign.join(", ")}`);
  await page.close();
}

async function testDiff(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url + "#diff");
  await page.evaluate(() => window.perfscope.ready());
  const diff = page.locator("#view-diff");
  check(await diff.isVisible(), "the diff view is shown");
  const frames = diff.locator(`.fr[aria-label="${BURN_A}"]`);
  check((await frames.count()) > 0, "the diff view draws burn_a");
  const delta = Number(await frames.first().getAttribute("data-delta"));
  check(delta > 10, `burn_a's share grew by more than 10 points (${delta})`);
  const colour = await frames.first().evaluate((e) => getComputedStyle(e).backgroundColor);
  const [r, g, b] = colour.match(/\d+/g).map(Number);
  check(r > 200 && g < 150 && b < 150, `burn_a's regression is red (${colour})`);
  const rowDelta = Number(await diff.locator("#diff-table tbody tr").first().getAttribute("data-delta"));
  check(Math.abs(rowDelta) > 10, `the table leads with a large change (${rowDelta})`);
  await page.screenshot({ path: path.join(outDir, "serve-diff.png"), fullPage: true });
  check(errors.length === 0, `no script errors in the diff view: ${errors.join("; ")}`);
  await page.close();
}

ensureChromium();
ensurePlaywright();
const { chromium } = createRequire(path.join(work, "package.json"))("playwright-core");
const files = record();
const plain = await serve(["-i", files.profile]);
const withBase = await serve(["-i", files.profile, "--diff", files.base]);
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = false;
try {
  await testViews(browser, plain.url);
  await testDiff(browser, withBase.url);
} catch (e) {
  console.error(e.stack || String(e));
  console.error(`screenshots and logs: ${outDir}, ${work}`);
  failed = true;
}
await browser.close();
for (const s of [plain, withBase]) {
  s.child.removeAllListeners("exit");
  s.child.kill("SIGTERM");
}
if (failed) process.exit(1);
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`browser: ${checks} serve checks passed in ${seconds} s; screenshots in ${outDir}`);
