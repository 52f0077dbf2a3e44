#include "output/flamegraph_svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <vector>

#include "core/text_escape.hpp"
#include "output/assets.hpp"
#include "profile/checked_math.hpp"

namespace perfscope::output {
namespace {

// Layout, in pixels.
constexpr int kFrameHeight = 16;
constexpr int kFontSize = 12;
constexpr double kFontWidth = 0.59;  // average glyph width / font size for Verdana-like fonts
constexpr int kPadX = 10;
constexpr int kPadTop = kFontSize * 3;
constexpr int kPadBottom = kFontSize * 2 + 4;
// The style sheet (assets/flamegraph_svg.css) sets the text at kFontSize (12px), the title 5px
// larger: change both together (the golden files show the output).

// 64-bit FNV-1a: colours depend on the name only, never on order or run.
std::uint64_t name_hash(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// base + part of range, chosen by 16 bits of the hash at `shift`.
int spread(std::uint64_t h, int shift, int base, int range) {
  return base + static_cast<int>(((h >> shift) & 0xffff) * static_cast<std::uint64_t>(range) >> 16);
}

}  // namespace

Rgb palette_colour(Palette palette, FrameKind kind, std::string_view name) {
  const std::uint64_t h = name_hash(name);
  switch (palette) {
    case Palette::hot:
      return {spread(h, 0, 205, 50), spread(h, 16, 40, 190), spread(h, 32, 10, 45)};
    case Palette::mem:
      return {spread(h, 32, 20, 60), spread(h, 0, 160, 80), spread(h, 16, 40, 70)};
    case Palette::io:
      return {spread(h, 32, 60, 50), spread(h, 16, 100, 80), spread(h, 0, 190, 60)};
    case Palette::kind:
      switch (kind) {
        case FrameKind::user:  // salmon to red
          return {spread(h, 0, 200, 55), spread(h, 16, 60, 70), spread(h, 32, 70, 60)};
        case FrameKind::kernel:  // orange
          return {spread(h, 0, 225, 30), spread(h, 16, 140, 45), spread(h, 32, 0, 40)};
        case FrameKind::jit:  // green
          return {spread(h, 32, 40, 50), spread(h, 0, 180, 60), spread(h, 16, 50, 50)};
        case FrameKind::inlined:  // aqua
          return {spread(h, 32, 40, 50), spread(h, 16, 190, 45), spread(h, 0, 200, 55)};
      }
  }
  return {};
}

namespace {

// Red for growth, blue for shrinkage, white for none; `ratio` is delta / largest |delta|.
Rgb diff_colour(double ratio) {
  const int x = static_cast<int>(std::lround(std::min(1.0, std::abs(ratio)) * 210.0));
  if (ratio > 0) return {255, 255 - x, 255 - x};
  if (ratio < 0) return {255 - x, 255 - x, 255};
  return {250, 250, 250};
}

// The name cut to fit `width` pixels ("longfunctionna.."), or "" when not even 3 characters fit.
std::string fit_name(std::string_view name, double width) {
  const auto max_chars =
      static_cast<std::size_t>(std::max(0.0, (width - 6) / (kFontSize * kFontWidth)));
  if (max_chars < 3) return {};
  std::vector<std::size_t> starts;  // byte offset of each character
  for (std::size_t i = 0; i < name.size();) {
    starts.push_back(i);
    const std::size_t n = utf8_length(name, i);
    i += n == 0 ? 1 : n;
  }
  if (starts.size() <= max_chars) return std::string(name);
  return std::string(name.substr(0, starts[max_chars - 2])) + "..";
}

std::string percent(std::int64_t part, std::int64_t whole) {
  return fmt::format(
      "{:.2f}%", whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0);
}

struct Placed {
  std::uint32_t node = 0;
  std::int64_t start = 0;  // samples left of this frame
};

// Frames wide enough to draw, in depth-first order (sorted children), with their offsets.
std::vector<Placed> place(const StackTree& tree, double px_per_sample, double min_width,
                          std::uint32_t& max_depth) {
  const auto kids = tree.all_children();
  std::vector<Placed> out;
  std::vector<Placed> todo{{StackTree::kRoot, 0}};
  max_depth = 0;
  while (!todo.empty()) {
    const Placed p = todo.back();
    todo.pop_back();
    const StackTree::Node& n = tree.node(p.node);
    if (n.total <= 0 || static_cast<double>(n.total) * px_per_sample < min_width) continue;
    out.push_back(p);
    max_depth = std::max(max_depth, n.depth);
    // Children left to right; pushed in reverse so the leftmost is drawn first.
    std::vector<Placed> row;
    std::int64_t x = p.start;
    for (std::uint32_t c : kids[p.node]) {
      row.push_back({c, x});
      profile::add_saturating(x, tree.node(c).total);
    }
    for (auto it = row.rbegin(); it != row.rend(); ++it) todo.push_back(*it);
  }
  return out;
}

Status check(const StackTree& tree, const SvgOptions& o) {
  if (o.width < 200 || o.width > 1000000) {
    return Error{fmt::format("width {} is out of range", o.width), 0,
                 "  give --width between 200 and 1000000 pixels"};
  }
  if (!(o.min_width >= 0) || o.min_width > o.width) {
    return Error{fmt::format("min-width {} is out of range", o.min_width), 0,
                 "  give --min-width in pixels, between 0 and the width"};
  }
  if (tree.total() <= 0) {
    return Error{"there are no samples to draw", 0,
                 "  the input (after --pid/--comm) holds no samples with a count above 0"};
  }
  return {};
}

// What a frame's tooltip and colour come from.
struct FrameStyle {
  std::string title;
  Rgb fill;
};

template <typename StyleOf>
std::string render(const StackTree& tree, const SvgOptions& o, const std::string& subtitle,
                   StyleOf&& style_of) {
  const double width = o.width - 2 * kPadX;
  const std::int64_t total = tree.total();
  const double px = width / static_cast<double>(total);
  std::uint32_t max_depth = 0;
  const std::vector<Placed> placed = place(tree, px, o.min_width, max_depth);
  const int height = kPadTop + static_cast<int>(max_depth + 1) * kFrameHeight + kPadBottom +
                     (subtitle.empty() ? 0 : kFontSize);
  const int top = kPadTop + (subtitle.empty() ? 0 : kFontSize);

  std::string out;
  auto w = std::back_inserter(out);
  fmt::format_to(w,
                 "<?xml version=\"1.0\" standalone=\"no\"?>\n"
                 "<svg version=\"1.1\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
                 "xmlns=\"http://www.w3.org/2000/svg\" onload=\"init()\">\n",
                 o.width, height);
  out += "<style type=\"text/css\">\n";
  out += assets::kFlamegraphSvgCss;
  out += "</style>\n";
  fmt::format_to(w,
                 "<script type=\"text/ecmascript\"><![CDATA[\nvar WIDTH = {}, PAD_X = {}, TOTAL = "
                 "{}, FONT_SIZE = {}, FONT_WIDTH = {};\n",
                 width, kPadX, total, kFontSize, kFontWidth);
  // The script (assets/flamegraph_svg.js) reads the layout from the variables above and finds
  // frames through #frames; see the header for the ids it uses.
  out += assets::kFlamegraphSvgJs;
  out += "]]></script>\n";
  fmt::format_to(w,
                 "<rect x=\"0\" y=\"0\" width=\"{}\" height=\"{}\" fill=\"rgb(248,248,240)\"/>\n",
                 o.width, height);
  fmt::format_to(w, "<text id=\"title\" x=\"{:.2f}\" y=\"{}\">{}</text>\n", o.width / 2.0,
                 kFontSize * 2, xml(o.title));
  if (!subtitle.empty()) {
    fmt::format_to(w, "<text id=\"subtitle\" x=\"{:.2f}\" y=\"{}\">{}</text>\n", o.width / 2.0,
                   kFontSize * 3, xml(subtitle));
  }
  fmt::format_to(w,
                 "<text id=\"unzoom\" x=\"{}\" y=\"{}\" style=\"display:none\">Reset Zoom</text>\n",
                 kPadX, kFontSize * 2);
  fmt::format_to(w, "<text id=\"search\" x=\"{}\" y=\"{}\">Search</text>\n", o.width - kPadX,
                 kFontSize * 2);
  fmt::format_to(w, "<text id=\"details\" x=\"{}\" y=\"{}\"> </text>\n", kPadX, height - 10);
  fmt::format_to(w, "<text id=\"matched\" x=\"{}\" y=\"{}\"> </text>\n", o.width - kPadX,
                 height - 10);
  out += "<g id=\"frames\">\n";
  for (const Placed& p : placed) {
    const StackTree::Node& n = tree.node(p.node);
    const std::string_view name = tree.name(n.name);
    const double x = kPadX + static_cast<double>(p.start) * px;
    const double fw = static_cast<double>(n.total) * px;
    const int y = o.inverted ? top + static_cast<int>(n.depth) * kFrameHeight
                             : height - kPadBottom - static_cast<int>(n.depth + 1) * kFrameHeight;
    const FrameStyle st = style_of(p.node);
    out += "<g class=\"f\" data-name=\"";
    append_xml(out, name);
    fmt::format_to(w, "\" data-s=\"{}\" data-c=\"{}\" data-d=\"{}\"><title>", p.start, n.total,
                   n.depth);
    append_xml(out, st.title);
    fmt::format_to(w,
                   "</title><rect x=\"{:.2f}\" y=\"{}\" width=\"{:.2f}\" height=\"{}\" "
                   "fill=\"rgb({},{},{})\" rx=\"2\" ry=\"2\"/><text x=\"{:.2f}\" y=\"{}\">",
                   x, y, fw, kFrameHeight - 1, st.fill.r, st.fill.g, st.fill.b, x + 3, y + 11);
    append_xml(out, fit_name(name, fw));
    out += "</text></g>\n";
  }
  out += "</g>\n</svg>\n";
  return out;
}

std::string frame_title(const StackTree& tree, const StackTree::Node& n, const SvgOptions& o) {
  const std::string_view name = tree.name(n.name);
  const std::string kind =
      n.kind == FrameKind::user ? std::string() : fmt::format(" [{}]", kind_name(n.kind));
  return fmt::format("{}{} ({} {}, {})", name, kind, n.total, o.unit,
                     percent(n.total, tree.total()));
}

}  // namespace

Result<Palette> parse_palette(std::string_view name) {
  if (name == "hot") return Palette::hot;
  if (name == "mem") return Palette::mem;
  if (name == "io") return Palette::io;
  if (name == "kind") return Palette::kind;
  return Error{fmt::format("unknown colour palette '{}'", name), 0,
               "  choose one of: hot, mem, io, kind (kind colours kernel, user, JIT and inlined "
               "frames differently)"};
}

Result<std::string> flamegraph_svg(const StackTree& tree, const SvgOptions& o) {
  if (auto st = check(tree, o); !st) return std::move(st).take_error();
  return render(tree, o, {}, [&](std::uint32_t id) {
    const StackTree::Node& n = tree.node(id);
    return FrameStyle{frame_title(tree, n, o),
                      palette_colour(o.palette, n.kind, tree.name(n.name))};
  });
}

Result<std::string> differential_svg(const StackTree& after, const StackTree& baseline,
                                     const SvgOptions& o, const DiffOptions& diff) {
  if (auto st = check(after, o); !st) return std::move(st).take_error();
  if (baseline.total() <= 0) {
    return Error{"the baseline has no samples to compare with", 0,
                 "  give --diff a profile with samples (after --pid/--comm)"};
  }
  // Each node of `after` matched to the node of `baseline` on the same path. Parents are created
  // before their children, so one pass in id order sees every parent first.
  std::vector<std::int64_t> match(after.size(), -1);
  match[StackTree::kRoot] = StackTree::kRoot;
  for (std::uint32_t id = 1; id < after.size(); ++id) {
    const StackTree::Node& n = after.node(id);
    if (match[n.parent] < 0) continue;
    const std::int64_t name = baseline.find_name(after.name(n.name));
    if (name < 0) continue;
    match[id] = baseline.find_child(static_cast<std::uint32_t>(match[n.parent]),
                                    {static_cast<std::uint32_t>(name), n.kind});
  }
  const double scale =
      diff.normalize ? static_cast<double>(after.total()) / static_cast<double>(baseline.total())
                     : 1.0;
  std::vector<double> delta(after.size(), 0.0);
  double largest = 0;
  for (std::uint32_t id = 0; id < after.size(); ++id) {
    const double before =
        match[id] < 0
            ? 0.0
            : static_cast<double>(baseline.node(static_cast<std::uint32_t>(match[id])).total) *
                  scale;
    delta[id] = static_cast<double>(after.node(id).total) - before;
    if (id != StackTree::kRoot) largest = std::max(largest, std::abs(delta[id]));
  }
  const std::string subtitle =
      fmt::format("differential: red grew, blue shrank against the baseline{}",
                  diff.normalize ? " (baseline scaled to the same total)" : "");
  return render(after, o, subtitle, [&](std::uint32_t id) {
    const StackTree::Node& n = after.node(id);
    const double before = static_cast<double>(n.total) - delta[id];
    std::string title = frame_title(after, n, o);
    title.pop_back();  // the ')'
    if (match[id] < 0) {
      title += "; new)";
    } else {
      // Rounded for display, so tiny floating-point residues never print as "-0".
      const double digits = diff.normalize ? 10.0 : 1.0;
      double shown = std::round(delta[id] * digits) / digits;
      if (shown == 0) shown = 0;
      double rel = before > 0 ? std::round(10000.0 * delta[id] / before) / 100.0 : 0.0;
      if (rel == 0) rel = 0;
      fmt::format_to(std::back_inserter(title), "; {:+.{}f} {} ({:+.2f}%) vs baseline {:.{}f})",
                     shown, diff.normalize ? 1 : 0, o.unit, rel, before, diff.normalize ? 1 : 0);
    }
    return FrameStyle{std::move(title), diff_colour(largest > 0 ? delta[id] / largest : 0.0)};
  });
}

}  // namespace perfscope::output
