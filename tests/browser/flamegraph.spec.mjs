// Browser test: perfscope's SVG and HTML flame graphs of a real recording, opened in headless
// Chromium and driven through Playwright as a person would use them: hover a frame and read the
// tooltip, click to zoom and check that the frame spans the width, search and check the matched
// share, sort the table. Screenshots go to the output directory.
//
//   node flamegraph.spec.mjs PERFSCOPE PS_BURN WORK_DIR OUTPUT_DIR
//
// It installs what it lacks: Debian's chromium (as root, with apt-get) and playwright-core
// (npm ci into WORK_DIR from this directory's package-lock.json). When one of them cannot be
// installed, or sampling is not allowed here, it prints "SKIP: reason" and exits 77, which CTest
// reports as skipped (SKIP_RETURN_CODE). Any failed check exits 1.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SKIP = 77;
const here = path.dirname(fileURLToPath(import.meta.url));
const [perfscope, burn, work, outDir] = process.argv.slice(2);
if (!perfscope || !burn || !work || !outDir) {
  console.error("usage: node flamegraph.spec.mjs PERFSCOPE PS_BURN WORK_DIR OUTPUT_DIR");
  process.exit(2);
}
const chromiumPath = process.env.PERFSCOPE_CHROMIUM || "/usr/bin/chromium";
const started = Date.now();
mkdirSync(work, { recursive: true });
mkdirSync(outDir, { recursive: true });
// playwright-core 1.65 needs Node 20 (NodeSource's nodejs; Debian 12's own is 18).
if (Number(process.versions.node.split(".")[0]) < 20) {
  console.log(`SKIP: Node ${process.versions.node} is too old for playwright-core (needs 20)`);
  process.exit(77);
}

function skip(reason) {
  console.log(`SKIP: ${reason}`);
  process.exit(SKIP);
}

// Runs a command to completion; its output goes to WORK_DIR/NAME.log.
function sh(name, command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: "utf8", timeout: 300_000, ...options });
  writeFileSync(path.join(work, `${name}.log`), `${r.stdout ?? ""}${r.stderr ?? ""}`);
  return r;
}

// --- What the test needs ---------------------------------------------------------------------

function ensureChromium() {
  if (existsSync(chromiumPath)) return;
  if (process.getuid?.() !== 0) {
    skip(`${chromiumPath} is missing; as root, apt-get install chromium`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const install = ["install", "-y", "-qq", "--no-install-recommends", "chromium"];
  let r = sh("apt-install", "apt-get", install, { env });
  if (r.status !== 0) {
    sh("apt-update", "apt-get", ["update", "-qq"], { env });
    r = sh("apt-install", "apt-get", install, { env });
  }
  if (r.status !== 0) {
    skip(`chromium is not installed and apt-get could not install it (${work}/apt-install.log)`);
  }
  if (!existsSync(chromiumPath)) skip(`apt-get installed chromium, but ${chromiumPath} is missing`);
}

// playwright-core at the version package-lock.json pins, in WORK_DIR/node_modules.
function ensurePlaywright() {
  const lock = readFileSync(path.join(here, "package-lock.json"), "utf8");
  const installed = path.join(work, "package-lock.json");
  const module = path.join(work, "node_modules", "playwright-core", "package.json");
  if (existsSync(module) && existsSync(installed) && readFileSync(installed, "utf8") === lock) {
    return;
  }
  copyFileSync(path.join(here, "package.json"), path.join(work, "package.json"));
  copyFileSync(path.join(here, "package-lock.json"), installed);
  const r = sh("npm-ci", "npm", ["ci", "--no-audit", "--no-fund", "--ignore-scripts"], {
    cwd: work,
  });
  if (r.error?.code === "ENOENT") skip("npm is not installed (apt-get install npm)");
  if (r.status !== 0 || !existsSync(module)) {
    skip(`npm could not install playwright-core (${work}/npm-ci.log)`);
  }
}

// A real profile: ps-burn (burn_a about 75%, burn_b about 25%) sampled at 999 Hz.
function record() {
  const profile = path.join(work, "burn.pb.gz");
  const r = sh("record", perfscope, ["record", "-F", "999", "-o", profile, "--", burn, "1000"]);
  if (r.status !== 0) {
    const paranoid = Number(readFileSync("/proc/sys/kernel/perf_event_paranoid", "utf8"));
    if (process.getuid?.() !== 0 && paranoid > 2) {
      skip(`sampling is not allowed (perf_event_paranoid ${paranoid}); see perfscope doctor`);
    }
    throw new Error(`perfscope record failed:\n${r.stdout}${r.stderr}`);
  }
  const render = (name, args) => {
    const out = path.join(work, name);
    const argv = ["flamegraph", "-i", profile, "-o", out, ...args];
    const g = sh(`flamegraph-${name}`, perfscope, argv);
    if (g.status !== 0) throw new Error(`perfscope flamegraph -o ${name} failed:\n${g.stderr}`);
    return out;
  };
  const title = ["--title", "ps-burn"];
  return { svg: render("burn.svg", title), html: render("burn.html", title) };
}

// --- Checks ------------------------------------------------------------------------------------

let checks = 0;
function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
  checks++;
}
const near = (a, b, slack) => Math.abs(a - b) <= slack;
const BURN_A = "perfscope_targets::burn_a(unsigned long, unsigned long)";
const BURN_B = "perfscope_targets::burn_b(unsigned long, unsigned long)";
const TOOLTIP = /^(.+) \((\d+) samples, (\d+\.\d\d)%(?:; self (\d+))?\)$/;

// Requests for anything but the file itself (checked at the end: the outputs are self-contained).
function watchRequests(page, file) {
  const url = pathToFileURL(file).href;
  const others = [];
  page.on("request", (req) => {
    if (req.url() !== url && !req.url().startsWith("data:")) others.push(req.url());
  });
  return others;
}

// The widest of the frames a locator matches (`box` measures one). A function can sit under
// several stacks: a command's first samples can come before its unwind tables are ready.
async function widest(locator, box = (l) => l.boundingBox()) {
  let best = locator.first();
  let bestWidth = -1;
  const n = await locator.count();
  for (let i = 0; i < n; i++) {
    const b = await box(locator.nth(i));
    if (b && b.width > bestWidth) {
      bestWidth = b.width;
      best = locator.nth(i);
    }
  }
  return best;
}

async function testSvg(browser, file) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 700 } });
  const requests = watchRequests(page, file);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(pathToFileURL(file).href);

  // Hover: the details line shows the frame's name, samples and share, like its <title>.
  const frame = await widest(page.locator(`#frames g.f[data-name="${BURN_A}"]`), (l) =>
    l.locator("rect").boundingBox(),
  );
  await frame.locator("rect").hover();
  const details = await page.locator("#details").textContent();
  const m = TOOLTIP.exec(details);
  check(m && m[1] === BURN_A, `SVG details line names burn_a: '${details}'`);
  const share = Number(m[3]);
  check(share > 55 && share < 95, `burn_a has about 75% of the samples (${share}%)`);
  const title = await frame.locator("title").textContent();
  check(title === details, "SVG <title> matches the details");

  // Click: burn_a fills the width between the margins, and the reset control appears.
  const width = Number(await page.locator("svg").getAttribute("width"));
  await frame.locator("rect").click();
  const box = await frame.locator("rect").boundingBox();
  check(near(box.width, width - 20, 1), `zoomed SVG frame spans the width (${box.width})`);
  check(near(box.x, 10, 1), `zoomed SVG frame starts at the left margin (${box.x})`);
  check(await page.locator("#unzoom").isVisible(), "SVG reset-zoom control is shown");
  await page.screenshot({ path: path.join(outDir, "svg-zoomed.png") });
  await page.keyboard.press("Escape");
  const reset = await frame.locator("rect").boundingBox();
  check(reset.width < box.width - 50, "Escape resets the SVG zoom");

  // Search (the prompt is answered like a person would): burn_b frames turn magenta and the
  // matched share is theirs.
  page.once("dialog", (d) => d.accept("burn_b"));
  await page.locator("#search").click();
  const matched = await page.locator("#matched").textContent();
  const bFrames = page.locator(`#frames g.f[data-name="${BURN_B}"]`);
  let bSamples = 0;
  for (const g of await bFrames.all()) bSamples += Number(await g.getAttribute("data-c"));
  const total = Number(await page.locator('#frames g.f[data-name="all"]').getAttribute("data-c"));
  const expected = ((100 * bSamples) / total).toFixed(2);
  check(matched === `Matched: ${expected}%`, `SVG search shows '${matched}', not ${expected}%`);
  check(Number(expected) > 5 && Number(expected) < 45, `burn_b has about 25% (${expected}%)`);
  check(
    (await bFrames.first().locator("rect").getAttribute("fill")) === "rgb(230,0,230)",
    "matching SVG frames are highlighted",
  );
  await page.screenshot({ path: path.join(outDir, "svg-search.png") });

  // Case-insensitive search: with the "ic" control on, BURN_B finds what burn_b found; turned
  // off, the search shown runs again, case-sensitive, and finds nothing.
  await page.locator("#search").click(); // "Reset Search"
  await page.locator("#ignorecase").click();
  check((await page.locator("#ignorecase").getAttribute("class")) === "on", "ic is on");
  page.once("dialog", (d) => d.accept("BURN_B"));
  await page.locator("#search").click();
  const ic = await page.locator("#matched").textContent();
  check(ic === `Matched: ${expected}%`, `SVG ignore-case search of BURN_B shows '${ic}'`);
  await page.locator("#ignorecase").click();
  const cased = await page.locator("#matched").textContent();
  check(cased === "Matched: 0.00%", `case-sensitive BURN_B matches nothing ('${cased}')`);

  // Labels: the whole name, or its start and "..", never past the frame's right edge.
  const labels = await page.evaluate(() =>
    Array.from(document.querySelectorAll("#frames g.f")).map((g) => {
      const t = g.querySelector("text");
      return {
        name: g.getAttribute("data-name"),
        text: t.textContent,
        length: t.textContent ? t.getComputedTextLength() : 0,
        room: Number(g.querySelector("rect").getAttribute("width")) - 3,
      };
    }),
  );
  checkLabels(labels, "SVG");
  check(errors.length === 0, `no script errors in the SVG: ${errors.join("; ")}`);
  check(requests.length === 0, `the SVG fetched nothing: ${requests.join(", ")}`);
  await page.close();
  return { burnA: share, burnB: Number(expected) };
}

// Each label is the frame's name, empty, or the name's start followed by ".." (never cut
// mid-letter), and fits in its frame; some are cut (a real profile has narrow frames).
function checkLabels(labels, where) {
  let cut = 0;
  for (const l of labels) {
    if (l.text === "") continue;
    if (l.text === l.name) {
      check(l.length <= l.room + 0.5, `${where} label '${l.text}' fits (${l.length} > ${l.room})`);
      continue;
    }
    cut++;
    check(
      l.text.endsWith("..") && l.name.startsWith(l.text.slice(0, -2)),
      `${where} label '${l.text}' is the start of '${l.name}' and ".."`,
    );
    check(l.length <= l.room + 0.5, `${where} label '${l.text}' fits (${l.length} > ${l.room})`);
  }
  check(cut > 0, `some ${where} labels are cut to fit (${labels.length} frames)`);
}

async function testHtml(browser, file, svgShares) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 900 } });
  const requests = watchRequests(page, file);
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(pathToFileURL(file).href);

  const flame = page.locator("#flame");
  const graph = flame.locator(".graph");
  const frame = await widest(flame.locator(`.fr[aria-label="${BURN_A}"]`));

  // Hover: a tooltip with the same numbers as the SVG's.
  await frame.hover();
  const tooltip = page.locator("#tooltip");
  check(await tooltip.isVisible(), "HTML tooltip appears on hover");
  const text = await tooltip.textContent();
  const m = TOOLTIP.exec(text);
  check(m && m[1] === BURN_A, `HTML tooltip names burn_a: '${text}'`);
  check(Number(m[3]) === svgShares.burnA, `HTML and SVG agree on burn_a (${m[3]}%)`);
  check((await flame.locator(".details").textContent()) === text, "HTML details line matches");
  await page.screenshot({ path: path.join(outDir, "html-hover.png") });

  // Click to zoom: the frame spans the graph; its ancestors too, faded; unzoom shows.
  await frame.click();
  const g = await graph.boundingBox();
  const f = await frame.boundingBox();
  check(
    near(f.width, g.width, 1) && near(f.x, g.x, 1),
    `zoomed HTML frame spans the graph (${f.width} of ${g.width})`,
  );
  check(await flame.locator(".unzoom").isVisible(), "HTML reset-zoom button is shown");
  check((await flame.locator(".fr.faded").count()) > 0, "ancestors of the zoomed frame are faded");
  await page.screenshot({ path: path.join(outDir, "html-zoomed.png") });
  await flame.locator(".unzoom").click();
  check((await frame.boundingBox()).width < f.width - 50, "the reset-zoom button resets");

  // The icicle view draws the same frames upside down: the root at the top.
  const icicle = page.locator("#icicle");
  check(
    (await icicle.locator(".fr").count()) === (await flame.locator(".fr").count()),
    "icicle and flame graph draw the same frames",
  );
  const root = await icicle.locator('.fr[data-i="0"]').boundingBox();
  const icicleBox = await icicle.locator(".graph").boundingBox();
  check(near(root.y, icicleBox.y, 1), "the icicle's root is at the top");

  // Search: type and press Enter; burn_b frames highlighted in both views, the share the SVG shows.
  await page.locator("#search").fill("burn_b");
  await page.locator("#search").press("Enter");
  const matched = await page.locator("#matched").textContent();
  check(matched === `Matched: ${svgShares.burnB.toFixed(2)}%`, `HTML search shows '${matched}'`);
  const hit = flame.locator(".fr.match").first();
  check((await hit.getAttribute("aria-label")) === BURN_B, "the highlighted frame is burn_b");
  const colour = await hit.evaluate((el) => getComputedStyle(el).backgroundColor);
  check(colour === "rgb(230, 0, 230)", `highlighted frames are magenta (${colour})`);
  check((await icicle.locator(".fr.match").count()) > 0, "the icicle view highlights too");
  check((await page.locator("#functions tr.match").count()) === 1, "one table row matches burn_b");

  // Case-insensitive: with "Ignore case" ticked, BURN_B matches as burn_b did; unticked, the
  // search runs again and matches nothing.
  await page.locator("#search").fill("BURN_B");
  await page.locator("#search").press("Enter");
  const cased = await page.locator("#matched").textContent();
  check(cased === "Matched: 0.00%", `case-sensitive BURN_B matches nothing ('${cased}')`);
  await page.locator("#search-ignore-case").check();
  const ic = await page.locator("#matched").textContent();
  check(ic === `Matched: ${svgShares.burnB.toFixed(2)}%`, `HTML ignore-case search shows '${ic}'`);
  check((await page.locator("#functions tr.match").count()) === 1, "the burn_b row matches too");

  // Labels fit their frames, and end in ".." when cut (the flame view, unzoomed).
  const labels = await flame.locator(".fr").evaluateAll((els) =>
    els
      .filter((el) => !el.hidden)
      .map((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        return {
          name: el.getAttribute("aria-label"),
          text: el.textContent,
          length: el.textContent ? range.getBoundingClientRect().width : 0,
          room: el.getBoundingClientRect().width - 7,
        };
      }),
  );
  checkLabels(labels, "HTML");

  // The table: sorted by self first; a click on Total sorts by it, a second click reverses.
  const rows = page.locator("#functions tbody tr");
  const top = await rows.first().locator("td").first().textContent();
  check(top === BURN_A, `burn_a tops the table (${top})`);
  const totalHead = page.locator("#functions thead th").nth(3);
  await totalHead.locator("button").click();
  const order = await totalHead.getAttribute("aria-sort");
  check(order === "descending", "Total sorts descending first");
  const totals = async () =>
    (await rows.locator("td:nth-child(4)").allTextContents()).map(Number);
  const down = await totals();
  check(down.every((v, i) => i === 0 || down[i - 1] >= v), "rows sorted by total, descending");
  await totalHead.locator("button").click();
  const up = await totals();
  check(up.every((v, i) => i === 0 || up[i - 1] <= v), "a second click sorts ascending");
  await page.locator("#functions thead th").first().locator("button").click();
  const names = await rows.locator("td:first-child").allTextContents();
  check(names.every((v, i) => i === 0 || names[i - 1] <= v), "Function sorts by name");
  await page.screenshot({ path: path.join(outDir, "html-page.png"), fullPage: true });
  check(errors.length === 0, `no script errors in the HTML page: ${errors.join("; ")}`);
  check(requests.length === 0, `the HTML page fetched nothing: ${requests.join(", ")}`);
  await page.close();
}

// --- Main --------------------------------------------------------------------------------------

ensureChromium();
ensurePlaywright();
const { chromium } = createRequire(path.join(work, "package.json"))("playwright-core");
const files = record();
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
try {
  const shares = await testSvg(browser, files.svg);
  await testHtml(browser, files.html, shares);
} catch (e) {
  console.error(e.stack || String(e));
  console.error(`screenshots and logs: ${outDir}, ${work}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`browser: ${checks} checks passed in ${seconds} s; screenshots in ${outDir}`);
