#include "output/html.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/text_escape.hpp"
#include "output/assets.hpp"
#include "profile/checked_math.hpp"

namespace perfscope::output {
namespace {

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
      profile::add_saturating(x, tree.node(c).total);
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
      profile::add_saturating(s.self, n.self);
      // An outer call of the same function already counted these samples.
      if (on_path[n.name]++ == 0) profile::add_saturating(s.total, n.total);
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
  if (o.palette == Palette::state && !o.states) {
    return Error{"--colors state needs the states of the frames", 0,
                 "  draw a profile of perfscope record --off-cpu or --wall"};
  }
  const FrameStates* states = o.palette == Palette::state ? o.states : nullptr;
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
  out += "</title>\n<style>\n";
  out += assets::kFlamegraphHtmlCss;
  out += "</style>\n</head>\n<body>\n<header>\n<h1>";
  append_xml(out, o.title);
  out += "</h1>\n";
  if (!o.subtitle.empty()) {
    out += "<p id=\"subtitle\">";
    append_xml(out, o.subtitle);
    out += "</p>\n";
  }
  out += "<p id=\"summary\">";
  fmt::format_to(w, "{} ", total);
  append_xml(out, o.unit);
  fmt::format_to(w, ", {} frames drawn, {} functions</p>\n", placed.size(), all_functions);
  std::optional<ModuleColours> modules;
  if (o.palette == Palette::module) modules.emplace(tree, o.modules);
  const ModuleColours* mc = modules ? &*modules : nullptr;
  if (const auto entries = legend(tree, o.palette, mc, 12, states); !entries.empty()) {
    out += "<ul id=\"legend\" aria-label=\"Colours\">";
    for (const LegendEntry& e : entries) {
      out += "<li data-key=\"";
      append_xml(out, e.key);
      out += "\">";
      if (e.key != "*") {
        fmt::format_to(w, "<span class=\"swatch\" style=\"background:#{:06x}\"></span>",
                       (e.colour.r << 16) | (e.colour.g << 8) | e.colour.b);
      }
      append_xml(out, e.label);
      out += "</li>";
    }
    out += "</ul>\n";
  }
  out +=
      "<nav><a href=\"#flame\">Flame graph</a><a href=\"#icicle\">Icicle graph</a>"
      "<a href=\"#top\">Top functions</a></nav>\n"
      "<form id=\"search-form\" role=\"search\"><input id=\"search\" type=\"search\" "
      "placeholder=\"Search functions (regular expression)\" aria-label=\"Search functions\">"
      "<label><input id=\"search-ignore-case\" type=\"checkbox\"> Ignore case</label>"
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

  // Data: names interned, frames as [name, kind, depth, start, count, self, colour], and with
  // --colors state an eighth element, the frame's states ("on-cpu 62.10%, sleeping 37.90%").
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
    const std::string_view name = tree.name(n.name);
    const Rgb c = states ? state_fill(*states, placed[i].node, name)
                  : mc   ? mc->frame(mc->module_of(name, n.kind), name)
                         : palette_colour(o.palette, n.kind, name);
    fmt::format_to(w, "{}[{},{},{},{},{},{},{}", i == 0 ? "\n" : ",\n", name_index[n.name],
                   static_cast<int>(n.kind), n.depth, placed[i].start, n.total, n.self,
                   (c.r << 16) | (c.g << 8) | c.b);
    if (states) {
      out += ',';
      append_json_string(out, states->shares(placed[i].node));
    }
    out += ']';
  }
  // The page's own script (assets/flamegraph_html.js) draws the frames of this JSON; see html.hpp
  // for the ids it uses.
  out += "]}\n</script>\n<script>\n";
  out += assets::kFlamegraphHtmlJs;
  out += "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace perfscope::output
