"use strict";
(function () {
  const data = JSON.parse(document.getElementById("profile").textContent);
  const frames = data.frames.map(function (f) {
    return { name: data.names[f[0]], kind: data.kinds[f[1]], d: f[2], s: f[3], c: f[4],
             self: f[5], color: "#" + f[6].toString(16).padStart(6, "0"), states: f[7] || "",
             hit: false };
  });
  const maxDepth = frames.reduce(function (m, f) { return Math.max(m, f.d); }, 0);
  const tooltip = document.getElementById("tooltip");
  const matched = document.getElementById("matched");
  const share = function (n) { return (100 * n / data.total).toFixed(2) + "%"; };
  function describe(f) {
    const kind = f.kind === "user" ? "" : " [" + f.kind + "]";
    return f.name + kind + " (" + f.c + " " + data.unit + ", " + share(f.c) + "; self " +
      f.self + (f.states ? "; " + f.states : "") + ")";
  }

  // The width in pixels of a text in `font`, measured on a canvas (cached by text).
  function textWidth(font) {
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = font;
    const cache = new Map();
    return function (text) {
      let w = cache.get(text);
      if (w === undefined) { w = ctx.measureText(text).width; cache.set(text, w); }
      return w;
    };
  }
  // The frame's name as it fits in `room` pixels: whole, or its longest start (by characters)
  // that fits with ".." after it, or "" when not even one character does (as flamegraph.pl).
  function fitName(f, room, measure) {
    if (measure(f.name) <= room) return f.name;
    if (!f.chars) f.chars = Array.from(f.name);
    let lo = 0, hi = f.chars.length - 1;  // the longest fitting start has lo characters
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (measure(f.chars.slice(0, mid).join("") + "..") <= room) lo = mid; else hi = mid - 1;
    }
    return lo === 0 ? "" : f.chars.slice(0, lo).join("") + "..";
  }

  function View(section) {
    const graph = section.querySelector(".graph");
    const inverted = graph.getAttribute("data-inverted") === "1";
    const details = section.querySelector(".details");
    const unzoom = section.querySelector(".unzoom");
    const row = parseFloat(getComputedStyle(graph).getPropertyValue("--row")) || 17;
    graph.style.height = (maxDepth + 1) * row + "px";
    const els = frames.map(function (f, i) {
      const el = document.createElement("div");
      el.className = "fr";
      el.dataset.i = i;
      el.setAttribute("aria-label", f.name);
      el.style.top = (inverted ? f.d : maxDepth - f.d) * row + "px";
      el.style.background = f.color;
      graph.appendChild(el);
      return el;
    });
    let width = graph.clientWidth, current = frames[0];
    const font = getComputedStyle(els[0] || graph);
    const measure = textWidth(font.fontSize + " " + font.fontFamily);
    function place(f, el, start, count, whole) {
      el.style.left = (100 * start / whole) + "%";
      el.style.width = (100 * count / whole) + "%";
      // The padding (3 px each side) and the right border (1 px) take from the label's room.
      el.textContent = fitName(f, count / whole * width - 7, measure);
    }
    function zoom(z) {
      current = z;
      frames.forEach(function (f, i) {
        const el = els[i];
        if (f.d >= z.d && f.s >= z.s && f.s + f.c <= z.s + z.c) {
          el.hidden = false; el.classList.remove("faded"); place(f, el, f.s - z.s, f.c, z.c);
        } else if (f.d < z.d && f.s <= z.s && f.s + f.c >= z.s + z.c) {
          el.hidden = false; el.classList.add("faded"); place(f, el, 0, 1, 1);
        } else {
          el.hidden = true;
        }
      });
      unzoom.hidden = z.d === 0;
    }
    this.reset = function () { zoom(frames[0]); };
    this.paint = function () {
      frames.forEach(function (f, i) { els[i].classList.toggle("match", f.hit); });
    };
    const frameOf = function (e) {
      const el = e.target.closest(".fr");
      return el ? frames[+el.dataset.i] : null;
    };
    graph.addEventListener("mousemove", function (e) {
      const f = frameOf(e);
      if (!f) return;
      tooltip.textContent = describe(f);
      details.textContent = describe(f);
      tooltip.hidden = false;
      const x = Math.min(e.clientX + 12, window.innerWidth - tooltip.offsetWidth - 4);
      tooltip.style.left = Math.max(0, x) + "px";
      tooltip.style.top = (e.clientY + 16) + "px";
    });
    graph.addEventListener("mouseleave", function () {
      tooltip.hidden = true;
      details.textContent = " ";
    });
    graph.addEventListener("click", function (e) { const f = frameOf(e); if (f) zoom(f); });
    unzoom.addEventListener("click", this.reset);
    window.addEventListener("resize", function () { width = graph.clientWidth; zoom(current); });
    this.reset();
  }
  const views = Array.from(document.querySelectorAll("section.view")).map(function (s) {
    return new View(s);
  });

  const rows = Array.from(document.querySelectorAll("#functions tbody tr"));
  const input = document.getElementById("search");
  const ignoreCase = document.getElementById("search-ignore-case");
  // Highlights the frames and rows whose name matches `pattern`; `ic` (default: the "Ignore case"
  // box, which it sets) makes the match case-insensitive.
  function search(pattern, ic) {
    if (ic !== undefined) ignoreCase.checked = !!ic;
    let re;
    try { re = new RegExp(pattern, ignoreCase.checked ? "i" : ""); } catch (err) {
      matched.textContent = "Invalid regular expression"; return -1;
    }
    const spans = [];
    frames.forEach(function (f) {
      f.hit = pattern !== "" && f.d > 0 && re.test(f.name);
      if (f.hit) spans.push([f.s, f.s + f.c]);
    });
    views.forEach(function (v) { v.paint(); });
    rows.forEach(function (r) {
      r.classList.toggle("match", pattern !== "" && re.test(r.cells[0].textContent));
    });
    // Nested matches (a function under another match) count once.
    spans.sort(function (a, b) { return a[0] - b[0]; });
    let covered = 0, end = -Infinity;
    spans.forEach(function (s) {
      const a = Math.max(s[0], end);
      if (s[1] > a) covered += s[1] - a;
      end = Math.max(end, s[1]);
    });
    const pct = 100 * covered / data.total;
    matched.textContent = pattern === "" ? "" : "Matched: " + pct.toFixed(2) + "%";
    return pct;
  }
  ignoreCase.addEventListener("change", function () { if (input.value !== "") search(input.value); });
  document.getElementById("search-form").addEventListener("submit", function (e) {
    e.preventDefault(); search(input.value);
  });
  document.getElementById("search-reset").addEventListener("click", function () {
    input.value = ""; search("");
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") views.forEach(function (v) { v.reset(); });
  });

  // The table: a click on a column header sorts by it, again to reverse.
  const table = document.getElementById("functions");
  const heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach(function (th, col) {
    th.querySelector("button").addEventListener("click", function () {
      const text = th.dataset.type === "text";
      const was = th.getAttribute("aria-sort");
      const dir = was ? (was === "descending" ? "ascending" : "descending")
                      : (text ? "ascending" : "descending");
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir);
      const key = function (r) {
        const c = r.cells[col];
        return text ? c.textContent : +c.dataset.v;
      };
      const sign = dir === "ascending" ? 1 : -1;
      const body = table.tBodies[0];
      Array.from(body.rows).sort(function (a, b) {
        const x = key(a), y = key(b);
        if (x < y) return -sign;
        if (x > y) return sign;
        return a.cells[0].textContent < b.cells[0].textContent ? -1 : 1;
      }).forEach(function (r) { body.appendChild(r); });
    });
  });
  window.perfscope = { search: search, views: views };
})();
