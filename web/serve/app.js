// perfscope serve: the page's script. Every view is drawn from the JSON the server's /api/
// endpoints answer (the server makes each view with report's and flamegraph's own code); this
// script only lays it out, sorts, searches and keeps the filters.
//
// What tests rely on: #tabs button[data-view] selects a view (section#view-NAME shown); frames are
// div.fr (aria-label: the frame's name; class "match" while the search matches it, "selected" for
// the clicked one); clicking a frame zooms to it and fills aside#selection with its callers
// (#selection-callers li); the diff view's frames carry data-delta (the change of their share of
// the total, in points) and are red when they grew; table#top-table has one tbody tr per function;
// #error shows what the server refused; window.perfscope.ready() resolves when a view is drawn.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, props = {}, text) => {
    const e = document.createElement(tag);
    Object.assign(e, props);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const FRAME_HEIGHT = 17;
  const KINDS = ["user", "kernel", "jit", "inlined"];

  const state = {
    meta: null,
    view: "top",
    fn: "", // the selected function
    time: null, // [start, end] in seconds
    search: "",
    zoom: { flame: -1, icicle: -1, diff: -1 },
  };
  let drawn = Promise.resolve();

  // --- Requests --------------------------------------------------------------------------

  function filterParams() {
    const p = new URLSearchParams();
    for (const [key, id] of [["pid", "#f-pid"], ["tid", "#f-tid"], ["cpu", "#f-cpu"]]) {
      const v = $(id).value;
      if (v !== "") p.set(key, v);
    }
    if (state.time) p.set("time", `${state.time[0].toFixed(3)}-${state.time[1].toFixed(3)}`);
    return p;
  }

  const cache = new Map();
  async function api(endpoint, extra = {}, withFilters = true) {
    const p = withFilters ? filterParams() : new URLSearchParams();
    for (const [k, v] of Object.entries(extra)) p.set(k, v);
    const url = `/api/${endpoint}?${p}`;
    if (!cache.has(url)) {
      cache.set(
        url,
        fetch(url).then(async (r) => {
          const body = await r.json();
          if (!r.ok) throw new Error(`${body.error}${body.hint ? "\n" + body.hint : ""}`);
          return body;
        }),
      );
    }
    try {
      return await cache.get(url);
    } catch (e) {
      cache.delete(url);
      throw e;
    }
  }

  function showError(e) {
    $("#error").textContent = e ? String(e.message || e) : "";
    $("#error").hidden = !e;
  }

  // --- Formatting ------------------------------------------------------------------------

  const pct = (part, whole) => (whole ? (100 * part) / whole : 0).toFixed(2) + "%";
  function unit() {
    const t = state.meta.sample_types[state.meta.value];
    return t ? t[0] : "samples";
  }
  function searchRegex() {
    if (!state.search) return null;
    try {
      return new RegExp(state.search, "i");
    } catch {
      return null;
    }
  }
  // Deterministic warm colours by name, as the flame graphs of `perfscope flamegraph`.
  function hotColour(name, kind) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    const v = (h % 1000) / 1000;
    if (kind === 1) return `rgb(${200 + Math.round(55 * v)},${120 + Math.round(60 * v)},60)`;
    if (kind === 3) return `rgb(${90 + Math.round(60 * v)},${190 + Math.round(40 * v)},190)`;
    return `rgb(${205 + Math.round(50 * v)},${Math.round(230 * v)},${Math.round(55 * v)})`;
  }

  // --- Filters and timeline --------------------------------------------------------------

  function fillFilters(meta) {
    const add = (sel, value, text) => $(sel).append(el("option", { value }, text));
    for (const p of meta.processes) add("#f-pid", p.pid, `${p.comm} (${p.pid}) ${pct(p.weight, meta.total)}`);
    for (const t of meta.threads) add("#f-tid", t.tid, `${t.comm} (${t.tid}) ${pct(t.weight, meta.total)}`);
    for (const c of meta.cpus) add("#f-cpu", c.cpu, `cpu ${c.cpu} ${pct(c.weight, meta.total)}`);
    for (const id of ["#f-pid", "#f-tid", "#f-cpu"]) {
      $(id).addEventListener("change", () => refresh());
    }
  }

  async function drawTimeline() {
    if (!state.meta.time) return;
    const tl = await api("timeline");
    $("#timeline").hidden = !tl.labelled;
    if (!tl.labelled) return;
    const bars = $("#timeline-bars");
    bars.replaceChildren();
    const max = Math.max(1, ...tl.periods.map((p) => p[2]));
    for (const [start, end, weight, hottest] of tl.periods) {
      const b = el("div");
      b.style.height = `${(100 * weight) / max}%`;
      b.title = `${(start / 1000).toFixed(1)}-${(end / 1000).toFixed(1)} s: ${weight} ${unit()}${hottest ? ", mostly " + hottest : ""}`;
      bars.append(b);
    }
    drawTimeWindow();
  }

  function drawTimeWindow() {
    const w = $("#timeline-window");
    const end = state.meta.time ? state.meta.time.end_ms / 1000 : 0;
    w.hidden = !state.time || end <= 0;
    $("#time-clear").hidden = !state.time;
    $("#time-label").textContent = state.time
      ? `Time ${state.time[0].toFixed(1)}-${state.time[1].toFixed(1)} s of ${end.toFixed(1)} s`
      : "";
    if (!state.time) return;
    w.style.left = `${(100 * state.time[0]) / end}%`;
    w.style.width = `${(100 * (state.time[1] - state.time[0])) / end}%`;
  }

  function setupTimeline() {
    const box = $("#timeline");
    let from = null;
    const at = (ev) => {
      const r = box.getBoundingClientRect();
      const f = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
      return f * (state.meta.time.end_ms / 1000);
    };
    box.addEventListener("mousedown", (ev) => {
      from = at(ev);
      state.time = [from, from];
      drawTimeWindow();
    });
    box.addEventListener("mousemove", (ev) => {
      if (from === null) return;
      const to = at(ev);
      state.time = [Math.min(from, to), Math.max(from, to)];
      drawTimeWindow();
    });
    window.addEventListener("mouseup", (ev) => {
      if (from === null) return;
      const to = at(ev);
      from = null;
      // A click without a drag: the period under it.
      const width = state.meta.time.width_ms / 1000;
      if (Math.abs(to - state.time[0]) < width / 4 && state.time[1] - state.time[0] < width / 4) {
        const start = Math.floor(to / width) * width;
        state.time = [start, start + width];
      }
      drawTimeWindow();
      refresh();
    });
    $("#time-clear").addEventListener("click", () => {
      state.time = null;
      drawTimeWindow();
      refresh();
    });
  }

  // --- Top table -------------------------------------------------------------------------

  let topRows = [];
  let topSort = { key: "self", dir: -1 };

  async function drawTop() {
    const top = await api("top", { n: 2000 });
    topRows = top.rows.map(([name, self, total]) => ({
      name,
      self,
      total,
      selfp: self / (top.total || 1),
      totalp: total / (top.total || 1),
    }));
    renderTop();
  }

  function renderTop() {
    const { key, dir } = topSort;
    const rows = [...topRows].sort((a, b) =>
      key === "name" ? dir * a.name.localeCompare(b.name) : dir * (a[key] - b[key]) || a.name.localeCompare(b.name),
    );
    const re = searchRegex();
    const body = $("#top-table tbody");
    body.replaceChildren();
    for (const r of rows) {
      if (re && !re.test(r.name)) continue;
      const tr = el("tr");
      tr.append(
        el("td", {}, r.name),
        el("td", {}, String(r.self)),
        el("td", {}, (100 * r.selfp).toFixed(2) + "%"),
        el("td", {}, String(r.total)),
        el("td", {}, (100 * r.totalp).toFixed(2) + "%"),
      );
      if (re) tr.classList.add("match");
      tr.addEventListener("click", () => select(r.name, "callers"));
      body.append(tr);
    }
    for (const th of document.querySelectorAll("#top-table th")) {
      if (th.dataset.key === key) th.setAttribute("aria-sort", dir < 0 ? "descending" : "ascending");
      else th.removeAttribute("aria-sort");
    }
  }

  function setupTop() {
    for (const th of document.querySelectorAll("#top-table th")) {
      th.querySelector("button").addEventListener("click", () => {
        const key = th.dataset.key;
        topSort = { key, dir: topSort.key === key ? -topSort.dir : key === "name" ? 1 : -1 };
        renderTop();
      });
    }
  }

  // --- Flame graph, icicle, diff ---------------------------------------------------------

  // The flat tree from /api/flame or /api/diff, laid out: x (offset in the root's total), depth.
  function layout(data) {
    const w = data.width;
    const n = data.nodes.length / w;
    const nodes = new Array(n);
    const next = new Float64Array(n); // where each node's next child starts
    let maxDepth = 0;
    for (let i = 0; i < n; i++) {
      const o = i * w;
      const parent = data.nodes[o];
      const node = {
        i,
        parent,
        name: data.names[data.nodes[o + 1]],
        kind: data.nodes[o + 2],
        total: data.nodes[o + 3],
        self: data.nodes[o + 4],
        base: w > 5 ? data.nodes[o + 5] : 0,
        depth: parent < 0 ? 0 : nodes[parent].depth + 1,
        x: parent < 0 ? 0 : next[parent],
      };
      if (parent >= 0) next[parent] += node.total;
      next[i] = node.x;
      nodes[i] = node;
      maxDepth = Math.max(maxDepth, node.depth);
    }
    return { nodes, maxDepth, total: data.total, baseTotal: data.base_total || 0 };
  }

  const graphs = {};

  async function drawGraph(view) {
    const endpoint = view === "diff" ? "diff" : "flame";
    const data = await api(endpoint);
    graphs[view] = layout(data);
    renderGraph(view);
    if (view === "diff") renderDiffTable(data);
  }

  function fnName(node) {
    return node.kind === 3 ? `${node.name} (inlined)` : node.name;
  }

  function deltaOf(g, node) {
    const now = node.total / (g.total || 1);
    const before = node.base / (g.baseTotal || 1);
    return 100 * (now - before);
  }

  function diffColour(delta) {
    const m = Math.min(1, Math.abs(delta) / 10);
    const keep = Math.round(230 - 170 * m);
    return delta > 0.05 ? `rgb(230,${keep},${keep})` : delta < -0.05 ? `rgb(${keep},${Math.round(keep + 20 * m)},230)` : "rgb(225,225,225)";
  }

  function renderGraph(view) {
    const g = graphs[view];
    if (!g) return;
    const section = $(`#view-${view}`);
    const box = section.querySelector(".graph");
    box.replaceChildren();
    const zoomId = state.zoom[view] >= 0 && state.zoom[view] < g.nodes.length ? state.zoom[view] : 0;
    const z = g.nodes[zoomId];
    const ancestors = new Set();
    for (let a = z; a.parent >= 0; a = g.nodes[a.parent]) ancestors.add(a.parent);
    const span = z.total || 1;
    const height = (g.maxDepth + 1) * FRAME_HEIGHT;
    box.style.height = `${height}px`;
    const upsideDown = view === "icicle";
    const re = searchRegex();
    let matched = 0;
    const matchedUnder = new Set();
    const frag = document.createDocumentFragment();
    for (const node of g.nodes) {
      const inside = node.x >= z.x && node.x + node.total <= z.x + span + 1e-9 && node.depth >= z.depth;
      if (!inside && !ancestors.has(node.i)) continue;
      const left = inside ? (node.x - z.x) / span : 0;
      const width = inside ? node.total / span : 1;
      if (width < 0.001) continue;
      const d = document.createElement("div");
      d.className = "fr";
      d.dataset.i = node.i;
      d.setAttribute("aria-label", node.name);
      d.style.left = `${100 * left}%`;
      d.style.width = `${100 * width}%`;
      const row = upsideDown ? node.depth : g.maxDepth - node.depth;
      d.style.top = `${row * FRAME_HEIGHT}px`;
      if (view === "diff") {
        const delta = deltaOf(g, node);
        d.dataset.delta = delta.toFixed(2);
        d.style.background = diffColour(delta);
      } else {
        d.style.background = hotColour(node.name, node.kind);
      }
      if (ancestors.has(node.i)) d.classList.add("faded");
      if (node.i === zoomId && zoomId !== 0) d.classList.add("selected");
      if (re && re.test(node.name)) {
        d.classList.add("match");
        if (!matchedUnder.has(node.parent)) matched += node.total;
        matchedUnder.add(node.i);
      } else if (matchedUnder.has(node.parent)) {
        matchedUnder.add(node.i);
      }
      d.textContent = width * box.clientWidth > 30 ? node.name : "";
      frag.append(d);
    }
    box.append(frag);
    section.querySelector(".unzoom").hidden = zoomId === 0;
    $("#matched").textContent = re ? `Matched: ${pct(matched, g.total)}` : "";
  }

  function describeNode(view, node) {
    const g = graphs[view];
    let text = `${node.name} (${node.total} ${unit()}, ${pct(node.total, g.total)}; self ${node.self})`;
    if (view === "diff") {
      text += `; before ${pct(node.base, g.baseTotal)}, change ${deltaOf(g, node) >= 0 ? "+" : ""}${deltaOf(g, node).toFixed(2)} points`;
    }
    return text;
  }

  function setupGraph(view) {
    const section = $(`#view-${view}`);
    const box = section.querySelector(".graph");
    const tip = $("#tooltip");
    box.addEventListener("mousemove", (ev) => {
      const d = ev.target.closest(".fr");
      if (!d) {
        tip.hidden = true;
        return;
      }
      const text = describeNode(view, graphs[view].nodes[Number(d.dataset.i)]);
      tip.textContent = text;
      tip.hidden = false;
      tip.style.left = `${Math.min(ev.clientX + 12, window.innerWidth - tip.offsetWidth - 4)}px`;
      tip.style.top = `${ev.clientY + 14}px`;
      section.querySelector(".details").textContent = text;
    });
    box.addEventListener("mouseleave", () => (tip.hidden = true));
    box.addEventListener("click", (ev) => {
      const d = ev.target.closest(".fr");
      if (!d) return;
      const node = graphs[view].nodes[Number(d.dataset.i)];
      state.zoom[view] = node.i;
      renderGraph(view);
      if (node.parent >= 0) select(fnName(node));
    });
    section.querySelector(".unzoom").addEventListener("click", () => {
      state.zoom[view] = -1;
      renderGraph(view);
    });
  }

  function renderDiffTable(data) {
    $("#diff-base").textContent = `now: ${state.meta.profile}, before: ${state.meta.base}`;
    const body = $("#diff-table tbody");
    body.replaceChildren();
    const now = data.total || 1;
    const before = data.base_total || 1;
    for (const [name, self, , baseSelf] of data.rows.slice(0, 200)) {
      const delta = 100 * (self / now - baseSelf / before);
      const tr = el("tr");
      tr.dataset.delta = delta.toFixed(2);
      tr.append(
        el("td", {}, name),
        el("td", {}, pct(self, now)),
        el("td", {}, pct(baseSelf, before)),
        el("td", {}, `${delta >= 0 ? "+" : ""}${delta.toFixed(2)}`),
      );
      tr.lastChild.style.background = diffColour(delta);
      tr.addEventListener("click", () => select(name, "callers"));
      body.append(tr);
    }
  }

  // --- Callers, callees, source ----------------------------------------------------------

  function treeList(ul, node, total, depth = 0) {
    ul.replaceChildren();
    if (!node) return;
    const add = (parent, n, d) => {
      const li = el("li");
      li.append(el("span", { className: "pct" }, pct(n.total, total)));
      const name = el("span", { className: "name" }, n.name);
      name.addEventListener("click", () => select(n.name, state.view === "callers" ? "callers" : undefined));
      li.append(name);
      parent.append(li);
      if (n.children.length && d < 40) {
        const sub = el("ul", { className: "tree" });
        li.append(sub);
        for (const c of n.children) add(sub, c, d + 1);
      }
    };
    add(ul, node, depth);
  }

  async function drawSelection() {
    const aside = $("#selection");
    const graphView = ["flame", "icicle", "diff"].includes(state.view);
    aside.hidden = !state.fn || !graphView;
    if (aside.hidden) return;
    $("#selection-name").textContent = state.fn;
    const c = await api("callers", { fn: state.fn });
    treeList($("#selection-callers"), c.callers, c.total);
  }

  async function drawCallers() {
    $("#view-callers .empty").hidden = !!state.fn;
    $("#callers-title").textContent = state.fn;
    if (!state.fn) return;
    const c = await api("callers", { fn: state.fn });
    treeList($("#callers-tree"), c.callers, c.total);
    treeList($("#callees-tree"), c.callees, c.total);
  }

  async function drawSource() {
    $("#view-source .empty").hidden = !!state.fn;
    const body = $("#source-table tbody");
    body.replaceChildren();
    $("#source-title").textContent = state.fn;
    $("#source-note").textContent = "";
    if (!state.fn) return;
    const s = await api("source", { fn: state.fn.replace(/ \(inlined\)$/, "") });
    const row = (cells, weight) => {
      const tr = el("tr");
      for (const c of cells) tr.append(el("td", {}, c));
      if (weight > 0) tr.classList.add("hot");
      body.append(tr);
    };
    let note = `${s.total} ${unit()} in ${s.function}${s.module ? ", code in " + s.module : ""}`;
    if (s.has_source) {
      for (const [file, line, weight, text] of s.lines) row([`${file}:${line}`, weight ? String(weight) : "", weight ? pct(weight, s.total) : "", text], weight);
    } else {
      note += s.has_lines ? "; the source files could not be read: lines and instructions" : "; no source lines: instructions";
      for (const [file, line, weight] of s.lines) row([`${file}:${line}`, String(weight), pct(weight, s.total), ""], weight);
      for (const [address, , weight, text] of s.instructions) row([`0x${address.toString(16)}`, weight ? String(weight) : "", weight ? pct(weight, s.total) : "", text], weight);
    }
    if (s.note) note += ` (${s.note})`;
    $("#source-note").textContent = note;
  }

  // --- Views -----------------------------------------------------------------------------

  const draw = {
    top: drawTop,
    flame: () => drawGraph("flame"),
    icicle: () => drawGraph("icicle"),
    diff: () => drawGraph("diff"),
    callers: drawCallers,
    source: drawSource,
  };

  function show(view) {
    state.view = view;
    for (const b of document.querySelectorAll("#tabs button")) {
      b.setAttribute("aria-selected", String(b.dataset.view === view));
    }
    for (const s of document.querySelectorAll("main .view")) s.hidden = s.id !== `view-${view}`;
    if (location.hash !== `#${view}`) history.replaceState(null, "", `#${view}`);
    drawn = Promise.all([draw[view](), drawSelection()])
      .then(() => showError(null))
      .catch(showError);
    return drawn;
  }

  function select(fn, view) {
    state.fn = fn;
    if (view) return show(view);
    drawn = drawSelection().then(() => showError(null)).catch(showError);
    return drawn;
  }

  function refresh() {
    for (const v of Object.keys(state.zoom)) state.zoom[v] = -1;
    drawn = Promise.all([drawTimeline(), show(state.view)]).catch(showError);
    return drawn;
  }

  async function start() {
    setupTop();
    for (const v of ["flame", "icicle", "diff"]) setupGraph(v);
    for (const b of document.querySelectorAll("#tabs button")) {
      b.addEventListener("click", () => show(b.dataset.view));
    }
    $("#filters").addEventListener("submit", (ev) => ev.preventDefault());
    $("#show-callers").addEventListener("click", () => show("callers"));
    $("#show-source").addEventListener("click", () => show("source"));
    $("#search").addEventListener("input", () => {
      state.search = $("#search").value;
      if (state.view === "top") renderTop();
      if (graphs[state.view]) renderGraph(state.view);
    });
    window.addEventListener("resize", () => graphs[state.view] && renderGraph(state.view));
    try {
      state.meta = await api("meta", {}, false);
    } catch (e) {
      showError(e);
      return;
    }
    const m = state.meta;
    document.title = `perfscope: ${m.profile}`;
    $("#profile-name").textContent = m.profile + (m.base ? ` (diff against ${m.base})` : "");
    $("#totals").textContent = `${m.total} ${unit()}${m.duration_ns ? `, ${(m.duration_ns / 1e9).toFixed(2)} s` : ""}`;
    document.querySelector('#tabs button[data-view="diff"]').hidden = !m.base;
    fillFilters(m);
    if (m.time) setupTimeline();
    const wanted = location.hash.slice(1);
    const first = draw[wanted] && (wanted !== "diff" || m.base) ? wanted : "top";
    state.view = first;
    await refresh();
  }

  window.perfscope = {
    ready: () => drawn,
    state,
    select,
    show,
  };
  drawn = start();
})();
