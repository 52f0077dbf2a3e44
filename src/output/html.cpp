#include "output/html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string_view>
#include <unordered_map>

#include "core/text_escape.hpp"

namespace perfscope::output {
namespace {

constexpr std::string_view kStyle = R"CSS(
:root { color-scheme: light; --row: 17px; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1d1d1f; background: #fafaf7; }
header { position: sticky; top: 0; z-index: 2; background: #fafaf7ee; padding: 10px 16px 8px;
  border-bottom: 1px solid #ddd; }
h1 { font-size: 20px; margin: 0 0 2px; }
h2 { font-size: 16px; margin: 0 0 4px; }
#summary, .hint, .note { color: #666; margin: 0 0 6px; }
nav a { margin-right: 14px; color: #0b57d0; }
form { display: flex; gap: 6px; align-items: center; margin-top: 6px; flex-wrap: wrap; }
#search { width: 28em; max-width: 60vw; padding: 3px 6px; font: inherit; }
button { font: inherit; padding: 2px 10px; cursor: pointer; }
#matched { margin-left: 8px; font-weight: 600; }
main { padding: 8px 16px 40px; }
section { margin: 14px 0 26px; }
.graph { position: relative; width: 100%; overflow: hidden; font: 12px/var(--row) Verdana,
  "DejaVu Sans", sans-serif; background: #f8f8f0; }
.fr { position: absolute; height: calc(var(--row) - 1px); padding: 0 3px; overflow: hidden;
  white-space: nowrap; text-overflow: clip; border-right: 1px solid #f8f8f0; border-radius: 2px;
  cursor: pointer; color: #000; }
.fr:hover { outline: 1px solid #000; z-index: 1; }
.fr.faded { opacity: 0.5; }
.fr.narrow { color: transparent; }
.fr.match { background: rgb(230,0,230) !important; }
.details { min-height: 1.4em; margin-top: 4px; font-family: Verdana, "DejaVu Sans", sans-serif;
  font-size: 12px; white-space: pre; overflow: hidden; text-overflow: ellipsis; }
#tooltip { position: fixed; z-index: 3; max-width: 60vw; padding: 4px 8px; pointer-events: none;
  background: #222; color: #fff; border-radius: 4px; font-size: 12px; overflow-wrap: anywhere; }
table { border-collapse: collapse; min-width: 60%; }
th, td { padding: 2px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; }
th { position: sticky; top: 0; background: #eee; }
th button { border: 0; background: none; padding: 0; font-weight: 600; }
th[aria-sort="descending"] button::after { content: " \25BC"; }
th[aria-sort="ascending"] button::after { content: " \25B2"; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { font-family: ui-monospace, "DejaVu Sans Mono", monospace; overflow-wrap: anywhere; }
tr.match td { background: #f7d6f7; }
)CSS";

// The page's own script. Frames come from the JSON data; see html.hpp for the ids it uses.
constexpr std::string_view kScript = R"JS(
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("profile").textContent);
  const frames = data.frames.map(function (f) {
    return { name: data.names[f[0]], kind: data.kinds[f[1]], d: f[2], s: f[3], c: f[4],
             self: f[5], color: "#" + f[6].toString(16).padStart(6, "0"), hit: false };
  });
  const maxDepth = frames.reduce(function (m, f) { return Math.max(m, f.d); }, 0);
  const tooltip = document.getElementById("tooltip");
  const matched = document.getElementById("matched");
  const share = function (n) { return (100 * n / data.total).toFixed(2) + "%"; };
  function describe(f) {
    const kind = f.kind === "user" ? "" : " [" + f.kind + "]";
    return f.name + kind + " (" + f.c + " " + data.unit + ", " + share(f.c) + "; self " +
      f.self + ")";
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
      el.style.top = (inverted ? f.d : maxDepth - f.d) * row + "px";
      el.style.background = f.color;
      el.textContent = f.name;
      graph.appendChild(el);
      return el;
    });
    let width = graph.clientWidth, current = frames[0];
    function place(el, start, count, whole) {
      el.style.left = (100 * start / whole) + "%";
      el.style.width = (100 * count / whole) + "%";
      // Names only where a few characters fit, as the SVG does.
      el.classList.toggle("narrow", count / whole * width < 24);
    }
    function zoom(z) {
      current = z;
      frames.forEach(function (f, i) {
        const el = els[i];
        if (f.d >= z.d && f.s >= z.s && f.s + f.c <= z.s + z.c) {
          el.hidden = false; el.classList.remove("faded"); place(el, f.s - z.s, f.c, z.c);
        } else if (f.d < z.d && f.s <= z.s && f.s + f.c >= z.s + z.c) {
          el.hidden = false; el.classList.add("faded"); place(el, 0, 1, 1);
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
  function search(pattern) {
    let re;
    try { re = new RegExp(pattern); } catch (err) {
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
  const input = document.getElementById("search");
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
)JS";

std::string percent(std::int64_t part, std::int64_t whole) {
  return fmt::format(
      "{:.2f}", whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
}

struct Placed {
  std::uint32_t node = 0;
  std::int64_t start = 0;
};

// Frames with at least `min_count` samples, depth-first in sorted order, with their offsets.
std::vector<Placed> place(const StackTree& tree,
                          const std::vector<std::vector<std::uint32_t>>& kids, double min_count) {
  std::vector<Placed> out;
  std::vector<Placed> todo{{StackTree::kRoot, 0}};
  while (!todo.empty()) {
    const Placed p = todo.back();
    todo.pop_back();
    const StackTree::Node& n = tree.node(p.node);
    if (n.total <= 0 || (p.node != StackTree::kRoot && static_cast<double>(n.total) < min_count)) {
      continue;
    }
    out.push_back(p);
    // Children left to right from the frame's left edge (its self samples are the gap on the
    // right); pushed in reverse so the leftmost comes out first.
    const std::size_t first = todo.size();
    std::int64_t x = p.start;
    for (std::uint32_t c : kids[p.node]) {
      todo.push_back({c, x});
      x += tree.node(c).total;
    }
    std::reverse(todo.begin() + static_cast<std::ptrdiff_t>(first), todo.end());
  }
  return out;
}

void section(std::string& out, std::string_view id, std::string_view heading, std::string_view hint,
             bool inverted) {
  fmt::format_to(std::back_inserter(out),
                 "<section id=\"{}\" class=\"view\">\n<h2>{}</h2>\n<p class=\"hint\">{}</p>\n"
                 "<button type=\"button\" class=\"unzoom\" hidden>Reset zoom</button>\n"
                 "<div class=\"graph\" data-inverted=\"{}\"></div>\n"
                 "<div class=\"details\"> </div>\n</section>\n",
                 id, heading, hint, inverted ? 1 : 0);
}

}  // namespace

std::vector<FunctionTotals> function_totals(const StackTree& tree, bool roots_are_processes) {
  struct Sums {
    std::int64_t self = 0, total = 0;
  };
  std::unordered_map<std::uint32_t, Sums> sums;  // by name id
  std::unordered_map<std::uint32_t, int> on_path;
  const auto kids = tree.all_children();
  std::vector<std::pair<std::uint32_t, bool>> todo;  // (node, leaving)
  for (std::uint32_t c : kids[StackTree::kRoot]) todo.emplace_back(c, false);
  while (!todo.empty()) {
    const auto [id, leaving] = todo.back();
    todo.pop_back();
    const StackTree::Node& n = tree.node(id);
    const bool counted = !(roots_are_processes && n.depth == 1);
    if (leaving) {
      if (counted) --on_path[n.name];
      continue;
    }
    if (counted) {
      Sums& s = sums[n.name];
      s.self += n.self;
      // An outer call of the same function already counted these samples.
      if (on_path[n.name]++ == 0) s.total += n.total;
    }
    todo.emplace_back(id, true);
    for (std::uint32_t c : kids[id]) todo.emplace_back(c, false);
  }
  std::vector<FunctionTotals> out;
  out.reserve(sums.size());
  for (const auto& [name, s] : sums) {
    if (s.total > 0 || s.self > 0) out.push_back({std::string(tree.name(name)), s.self, s.total});
  }
  std::sort(out.begin(), out.end(), [](const FunctionTotals& a, const FunctionTotals& b) {
    if (a.self != b.self) return a.self > b.self;
    if (a.total != b.total) return a.total > b.total;
    return a.name < b.name;
  });
  return out;
}

Result<std::string> flamegraph_html(const StackTree& tree, const HtmlOptions& o) {
  if (!(o.min_share >= 0) || o.min_share > 1) {
    return Error{fmt::format("minimum frame share {} is out of range", o.min_share), 0,
                 "  give --min-width in pixels, between 0 and the width"};
  }
  if (tree.total() <= 0) {
    return Error{"there are no samples to draw", 0,
                 "  the input (after --pid/--comm) holds no samples with a count above 0"};
  }
  const std::int64_t total = tree.total();
  const auto kids = tree.all_children();
  const std::vector<Placed> placed = place(tree, kids, o.min_share * static_cast<double>(total));

  // Table rows: the `top` with most self samples, and any other among the `top` by total.
  std::vector<FunctionTotals> functions = function_totals(tree, o.roots_are_processes);
  const std::size_t all_functions = functions.size();
  if (functions.size() > o.top) {
    // The top-th largest total; functions above it stay whatever their self samples.
    std::int64_t total_cut = INT64_MAX;
    if (o.top > 0) {
      std::vector<std::int64_t> totals;
      for (const auto& f : functions) totals.push_back(f.total);
      const auto nth = totals.begin() + static_cast<std::ptrdiff_t>(o.top - 1);
      std::nth_element(totals.begin(), nth, totals.end(), std::greater<>());
      total_cut = *nth;
    }
    std::vector<FunctionTotals> kept;
    for (std::size_t i = 0; i < functions.size(); ++i) {
      if (i < o.top || functions[i].total > total_cut) kept.push_back(std::move(functions[i]));
    }
    functions = std::move(kept);
  }

  std::string out;
  auto w = std::back_inserter(out);
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"perfscope\">\n<title>";
  append_xml(out, o.title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n<header>\n<h1>";
  append_xml(out, o.title);
  out += "</h1>\n<p id=\"summary\">";
  fmt::format_to(w, "{} ", total);
  append_xml(out, o.unit);
  fmt::format_to(w, ", {} frames drawn, {} functions</p>\n", placed.size(), all_functions);
  out +=
      "<nav><a href=\"#flame\">Flame graph</a><a href=\"#icicle\">Icicle graph</a>"
      "<a href=\"#top\">Top functions</a></nav>\n"
      "<form id=\"search-form\" role=\"search\"><input id=\"search\" type=\"search\" "
      "placeholder=\"Search functions (regular expression)\" aria-label=\"Search functions\">"
      "<button type=\"submit\">Search</button><button type=\"button\" id=\"search-reset\">Reset"
      "</button><span id=\"matched\" aria-live=\"polite\"></span></form>\n</header>\n<main>\n"
      "<noscript><p>The graphs are drawn by the page's script; the table of top functions below "
      "works without it.</p></noscript>\n";
  const std::string_view hint = "Hover for details, click a frame to zoom, Esc to reset.";
  if (o.icicle_first) {
    section(out, "icicle", "Icicle graph", hint, true);
    section(out, "flame", "Flame graph", hint, false);
  } else {
    section(out, "flame", "Flame graph", hint, false);
    section(out, "icicle", "Icicle graph", hint, true);
  }

  out += "<section id=\"top\">\n<h2>Top functions</h2>\n<p class=\"note\">";
  if (functions.size() < all_functions) {
    fmt::format_to(w, "The {} of {} functions with the most self or total {}. ", functions.size(),
                   all_functions, xml(o.unit));
  }
  out +=
      "Self: samples whose innermost frame is the function. Total: samples with the function "
      "anywhere in the stack, once per sample. Click a column to sort.</p>\n"
      "<table id=\"functions\">\n<thead><tr>"
      "<th scope=\"col\" data-type=\"text\"><button type=\"button\">Function</button></th>"
      "<th scope=\"col\" class=\"num\" aria-sort=\"descending\"><button type=\"button\">Self"
      "</button></th>"
      "<th scope=\"col\" class=\"num\"><button type=\"button\">Self %</button></th>"
      "<th scope=\"col\" class=\"num\"><button type=\"button\">Total</button></th>"
      "<th scope=\"col\" class=\"num\"><button type=\"button\">Total %</button></th>"
      "</tr></thead>\n<tbody>\n";
  for (const FunctionTotals& f : functions) {
    out += "<tr><td class=\"name\">";
    append_xml(out, f.name);
    const std::string self_pct = percent(f.self, total), total_pct = percent(f.total, total);
    fmt::format_to(w,
                   "</td><td class=\"num\" data-v=\"{0}\">{0}</td><td class=\"num\" "
                   "data-v=\"{1}\">{1}%</td><td class=\"num\" data-v=\"{2}\">{2}</td><td "
                   "class=\"num\" data-v=\"{3}\">{3}%</td></tr>\n",
                   f.self, self_pct, f.total, total_pct);
  }
  out += "</tbody>\n</table>\n</section>\n</main>\n<div id=\"tooltip\" role=\"tooltip\" hidden>";
  out += "</div>\n<script id=\"profile\" type=\"application/json\">\n";

  // Data: names interned, frames as [name, kind, depth, start, count, self, colour].
  std::unordered_map<std::uint32_t, std::uint32_t> name_index;
  std::vector<std::uint32_t> names;
  for (const Placed& p : placed) {
    const std::uint32_t name = tree.node(p.node).name;
    if (name_index.try_emplace(name, static_cast<std::uint32_t>(names.size())).second) {
      names.push_back(name);
    }
  }
  fmt::format_to(w, "{{\"total\":{},\"unit\":", total);
  append_json_string(out, o.unit);
  out += ",\"kinds\":[\"user\",\"kernel\",\"jit\",\"inlined\"],\n\"names\":[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    append_json_string(out, tree.name(names[i]));
  }
  out += "],\n\"frames\":[";
  for (std::size_t i = 0; i < placed.size(); ++i) {
    const StackTree::Node& n = tree.node(placed[i].node);
    const Rgb c = palette_colour(o.palette, n.kind, tree.name(n.name));
    fmt::format_to(w, "{}[{},{},{},{},{},{},{}]", i == 0 ? "\n" : ",\n", name_index[n.name],
                   static_cast<int>(n.kind), n.depth, placed[i].start, n.total, n.self,
                   (c.r << 16) | (c.g << 8) | c.b);
  }
  out += "]}\n</script>\n<script>";
  out += kScript;
  out += "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace perfscope::output
