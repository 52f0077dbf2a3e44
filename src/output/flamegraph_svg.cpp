#include "output/flamegraph_svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <vector>

#include "core/text_escape.hpp"
#include "output/assets.hpp"
#include "profile/checked_math.hpp"
#include "profile/names.hpp"

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

// HSL (hue in degrees, saturation and lightness in [0, 1]) to RGB.
Rgb hsl(double hue, double sat, double light) {
  const double c = (1 - std::abs(2 * light - 1)) * sat;
  const double hp = std::fmod(hue, 360.0) / 60.0;
  const double x = c * (1 - std::abs(std::fmod(hp, 2.0) - 1));
  double r = 0, g = 0, b = 0;
  if (hp < 1) {
    r = c, g = x;
  } else if (hp < 2) {
    r = x, g = c;
  } else if (hp < 3) {
    g = c, b = x;
  } else if (hp < 4) {
    g = x, b = c;
  } else if (hp < 5) {
    r = x, b = c;
  } else {
    r = c, b = x;
  }
  const double m = light - c / 2;
  auto to = [m](double v) { return static_cast<int>(std::lround((v + m) * 255.0)); };
  return {to(r), to(g), to(b)};
}

double shade_of(std::string_view name) {
  return static_cast<double>((name_hash(name) >> 40) & 0xff) / 255.0;
}

// The name of a frame as tree_from_profile interns it.
std::string tree_frame_name(std::string name) {
  std::replace(name.begin(), name.end(), ';', ':');
  return name;
}

}  // namespace

FrameModules FrameModules::from_profile(const profile::Profile& p) {
  FrameModules out;
  for (const profile::Location& l : p.locations()) {
    if (l.mapping_id == 0 || l.mapping_id > p.mappings().size()) continue;
    std::string module = profile::module_name(p, l.mapping_id);
    if (module.empty() || module == "[unknown]") continue;
    if (l.lines.empty()) {
      out.add(tree_frame_name(profile::unsymbolized_name(p, l)), module);
      continue;
    }
    for (const profile::Line& line : l.lines) {
      if (line.function_id == 0 || line.function_id > p.functions().size()) continue;
      out.add(tree_frame_name(profile::function_name(p, p.function(line.function_id))), module);
    }
  }
  return out;
}

void FrameModules::add(std::string name, std::string module) {
  by_name_.try_emplace(std::move(name), std::move(module));
}

std::string FrameModules::module_of(std::string_view name, FrameKind kind) const {
  if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  if (kind == FrameKind::kernel) return "[kernel.kallsyms]";
  if (kind == FrameKind::jit) return "[jit]";
  // "[libc.so.6]": perf script's and stackcollapse-perf.pl's frame without a symbol.
  if (name.size() > 2 && name.front() == '[' && name.back() == ']' && name != "[unknown]") {
    return std::string(profile::basename(name.substr(1, name.size() - 2)));
  }
  // "libc.so.6`malloc", as DTrace's ustack() and stackcollapse.pl write frames.
  if (const std::size_t tick = name.find('`'); tick != std::string_view::npos && tick > 0) {
    return std::string(profile::basename(name.substr(0, tick)));
  }
  // "libfoo.so+0x1a2b": a perfscope frame without a symbol, as report --folded writes it.
  if (const std::size_t plus = name.rfind("+0x"); plus != std::string_view::npos && plus > 0) {
    const std::string_view file = name.substr(0, plus);
    if (file.find_first_of(" ()<>:") == std::string_view::npos) {
      return std::string(profile::basename(file));
    }
  }
  return {};
}

namespace {
constexpr int kModuleHues = 12;
}  // namespace

ModuleColours::ModuleColours(const StackTree& tree, const FrameModules* modules)
    : modules_(modules) {
  std::unordered_map<std::string, std::int64_t> self;
  for (std::uint32_t id = 1; id < tree.size(); ++id) {
    const StackTree::Node& n = tree.node(id);
    if (n.total <= 0) continue;
    profile::add_saturating(self[module_of(tree.name(n.name), n.kind)], n.self);
  }
  ranked_.assign(self.begin(), self.end());
  std::sort(ranked_.begin(), ranked_.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  bool taken[kModuleHues] = {};
  int claimed = 0;
  for (const auto& [module, samples] : ranked_) {
    if (module.empty()) continue;
    const std::uint64_t h = name_hash(module);
    if (claimed == kModuleHues) {
      hue_[module] = static_cast<double>(h & 0xffff) * 360.0 / 65536.0;
      continue;
    }
    const int want = static_cast<int>(h % kModuleHues);
    for (int step = 0; step < kModuleHues; ++step) {
      // want, want+1, want-1, want+2, ...
      const int offset = step % 2 ? (step + 1) / 2 : -step / 2;
      const int slot = ((want + offset) % kModuleHues + kModuleHues) % kModuleHues;
      if (taken[slot]) continue;
      taken[slot] = true;
      ++claimed;
      hue_[module] = slot * (360.0 / kModuleHues) + 10.0;
      break;
    }
  }
}

std::string ModuleColours::module_of(std::string_view name, FrameKind kind) const {
  return modules_ ? modules_->module_of(name, kind) : FrameModules{}.module_of(name, kind);
}

Rgb ModuleColours::shade(std::string_view module, double shade) const {
  const auto it = hue_.find(std::string(module));
  if (module.empty() || it == hue_.end()) {
    const int v = 185 + static_cast<int>(std::lround(shade * 30.0));
    return {v, v, v};
  }
  return hsl(it->second, 0.65, 0.60 + 0.14 * shade);
}

Rgb ModuleColours::frame(std::string_view module, std::string_view name) const {
  return shade(module, shade_of(name));
}

Rgb ModuleColours::base(std::string_view module) const {
  return shade(module, 0.5);
}

Result<FrameStates> FrameStates::from_profile(const profile::Profile& p, const TreeOptions& options,
                                              const StackTree& tree) {
  const profile::LabelKeys keys(p);
  if (keys.state < 0) {
    return Error{"the profile has no off-CPU states to colour by", 0,
                 "  --colors state needs a profile of perfscope record --off-cpu or --wall"};
  }
  FrameStates out;
  out.by_node_.assign(tree.size(), Times{});
  bool any = false;
  for (std::size_t state = 0; state < kCount; ++state) {
    const std::int64_t name = p.find_string(kNames[state]);
    if (name < 0) continue;
    // The samples of this state as a tree of their own, each node matched to the node of `tree`
    // on the same path (parents are created before their children: one pass in id order).
    profile::Profile only = p;
    only.retain_samples([&](const profile::Sample& s) {
      return profile::str_label(s, keys.state) == static_cast<profile::StringId>(name);
    });
    if (only.samples().empty()) continue;
    auto part = tree_from_profile(only, options);
    if (!part) return part.error();
    std::vector<std::int64_t> match(part->size(), -1);
    match[StackTree::kRoot] = StackTree::kRoot;
    for (std::uint32_t id = 0; id < part->size(); ++id) {
      const StackTree::Node& n = part->node(id);
      if (id != StackTree::kRoot) {
        if (match[n.parent] < 0) continue;
        const std::int64_t frame = tree.find_name(part->name(n.name));
        if (frame < 0) continue;
        match[id] = tree.find_child(static_cast<std::uint32_t>(match[n.parent]),
                                    {static_cast<std::uint32_t>(frame), n.kind});
        if (match[id] < 0) continue;
      }
      profile::add_saturating(out.by_node_[static_cast<std::size_t>(match[id])][state], n.total);
      any = any || n.total > 0;
    }
  }
  if (!any) {
    return Error{"no sample of the profile names a known state", 0,
                 "  --colors state knows on-cpu, sleeping, blocked and runnable"};
  }
  return out;
}

const FrameStates::Times& FrameStates::of(std::uint32_t id) const {
  static const Times kNone{};
  return id < by_node_.size() ? by_node_[id] : kNone;
}

std::pair<int, double> FrameStates::dominant(std::uint32_t id) const {
  const Times& t = of(id);
  std::int64_t sum = 0;
  int best = -1;
  for (std::size_t s = 0; s < kCount; ++s) {
    profile::add_saturating(sum, t[s]);
    if (t[s] > 0 && (best < 0 || t[s] > t[static_cast<std::size_t>(best)])) {
      best = static_cast<int>(s);
    }
  }
  if (best < 0) return {-1, 0.0};
  return {best, static_cast<double>(t[static_cast<std::size_t>(best)]) / static_cast<double>(sum)};
}

std::string FrameStates::shares(std::uint32_t id) const {
  const Times& t = of(id);
  std::int64_t sum = 0;
  for (std::int64_t v : t) profile::add_saturating(sum, v);
  std::vector<std::size_t> order;
  for (std::size_t s = 0; s < kCount; ++s) {
    if (t[s] > 0) order.push_back(s);
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return t[a] > t[b]; });
  std::string out;
  for (std::size_t s : order) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} {:.2f}%", kNames[s],
                       100.0 * static_cast<double>(t[s]) / static_cast<double>(sum));
  }
  return out;
}

std::vector<std::size_t> FrameStates::present() const {
  std::vector<std::size_t> out;
  for (std::size_t s = 0; s < kCount; ++s) {
    if (by_node_.empty() || by_node_[StackTree::kRoot][s] > 0) out.push_back(s);
  }
  return out;
}

namespace {
// Hues of on-CPU (red-orange, the hot palette's), sleeping (blue), blocked (purple), runnable
// (green): apart enough to tell at a glance.
constexpr double kStateHues[FrameStates::kCount] = {12.0, 212.0, 282.0, 112.0};
}  // namespace

Rgb state_colour(std::size_t state, double share, std::string_view name) {
  if (state >= FrameStates::kCount) return {200, 200, 200};
  // A state holding all of a frame's time gives full colour; half of it (the least a dominant
  // state of two holds), little.
  const double purity = std::clamp((share - 0.5) * 2.0, 0.0, 1.0);
  const double light = 0.58 + 0.08 * shade_of(name) + 0.20 * (1.0 - purity);
  return hsl(kStateHues[state], 0.15 + 0.65 * purity, light);
}

Rgb state_fill(const FrameStates& states, std::uint32_t id, std::string_view name) {
  const auto [state, share] = states.dominant(id);
  return state < 0 ? Rgb{200, 200, 200}
                   : state_colour(static_cast<std::size_t>(state), share, name);
}

Rgb palette_colour(Palette palette, FrameKind kind, std::string_view name) {
  const std::uint64_t h = name_hash(name);
  switch (palette) {
    case Palette::module:
    case Palette::state:
      return {200, 200, 200};
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

std::vector<LegendEntry> legend(const StackTree& tree, Palette palette,
                                const ModuleColours* modules, std::size_t max_entries,
                                const FrameStates* states) {
  std::vector<LegendEntry> out;
  if (palette == Palette::state && states) {
    for (std::size_t s : states->present()) {
      out.push_back({std::string(FrameStates::kNames[s]),
                     s == 0 ? std::string("on-CPU") : std::string(FrameStates::kNames[s]),
                     state_colour(s, 1.0, "")});
    }
    out.push_back({"*", "(paler: a frame whose time several states share)", {}});
  } else if (palette == Palette::kind) {
    bool seen[4] = {};
    for (std::uint32_t id = 1; id < tree.size(); ++id) {
      const StackTree::Node& n = tree.node(id);
      if (n.total > 0) seen[static_cast<int>(n.kind)] = true;
    }
    // The middle of each kind's range in palette_colour.
    const std::pair<FrameKind, Rgb> kinds[] = {{FrameKind::user, {227, 95, 100}},
                                               {FrameKind::kernel, {240, 162, 20}},
                                               {FrameKind::jit, {65, 210, 75}},
                                               {FrameKind::inlined, {65, 212, 227}}};
    for (const auto& [kind, colour] : kinds) {
      if (!seen[static_cast<int>(kind)]) continue;
      out.push_back({std::string(kind_name(kind)),
                     kind == FrameKind::jit ? std::string("JIT") : std::string(kind_name(kind)),
                     colour});
    }
  } else if (palette == Palette::module && modules) {
    const auto& order = modules->ranked();
    const bool cut = order.size() > max_entries;
    const std::size_t shown = cut ? (max_entries > 0 ? max_entries - 1 : 0) : order.size();
    for (std::size_t i = 0; i < shown; ++i) {
      const std::string& m = order[i].first;
      out.push_back({m, m.empty() ? std::string("unknown module") : m, modules->base(m)});
    }
    if (cut) {
      out.push_back({"*", fmt::format("+{} more modules", order.size() - shown), {}});
    }
  }
  return out;
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

// The legend's rows: each entry's swatch x and row, laid out left to right within the width.
struct LegendPlace {
  double x = 0;
  int row = 0;
};
std::vector<LegendPlace> legend_layout(const std::vector<LegendEntry>& entries, int width) {
  std::vector<LegendPlace> out;
  double x = kPadX;
  int row = 0;
  for (const LegendEntry& e : entries) {
    const double w =
        (e.key == "*" ? 0 : 14) + static_cast<double>(e.label.size()) * kFontSize * kFontWidth + 16;
    if (x > kPadX && x + w > width - kPadX) {
      x = kPadX;
      ++row;
    }
    out.push_back({x, row});
    x += w;
  }
  return out;
}

template <typename StyleOf>
std::string render(const StackTree& tree, const SvgOptions& o,
                   const std::vector<std::string>& subtitles,
                   const std::vector<LegendEntry>& legend_entries, StyleOf&& style_of) {
  const double width = o.width - 2 * kPadX;
  const std::int64_t total = tree.total();
  const double px = width / static_cast<double>(total);
  std::uint32_t max_depth = 0;
  const std::vector<Placed> placed = place(tree, px, o.min_width, max_depth);
  const std::vector<LegendPlace> legend_at = legend_layout(legend_entries, o.width);
  const int legend_rows = legend_at.empty() ? 0 : legend_at.back().row + 1;
  const int subtitle_height = static_cast<int>(subtitles.size()) * kFontSize;
  const int legend_top = kPadTop + subtitle_height;  // the top of the first legend row
  const int top = legend_top + legend_rows * kFrameHeight;
  const int height = top + static_cast<int>(max_depth + 1) * kFrameHeight + kPadBottom;

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
  for (std::size_t i = 0; i < subtitles.size(); ++i) {
    fmt::format_to(w, "<text {}x=\"{:.2f}\" y=\"{}\">{}</text>\n",
                   i == 0 ? "id=\"subtitle\" " : "class=\"subtitle\" ", o.width / 2.0,
                   kFontSize * 3 + static_cast<int>(i) * kFontSize, xml(subtitles[i]));
  }
  if (!legend_entries.empty()) {
    out += "<g id=\"legend\">\n";
    for (std::size_t i = 0; i < legend_entries.size(); ++i) {
      const LegendEntry& e = legend_entries[i];
      const int y = legend_top + legend_at[i].row * kFrameHeight;
      out += "<g class=\"legend-entry\" data-key=\"";
      append_xml(out, e.key);
      out += "\">";
      double text_x = legend_at[i].x;
      if (e.key != "*") {
        fmt::format_to(w,
                       "<rect x=\"{:.2f}\" y=\"{}\" width=\"10\" height=\"10\" "
                       "fill=\"rgb({},{},{})\"/>",
                       legend_at[i].x, y, e.colour.r, e.colour.g, e.colour.b);
        text_x += 14;
      }
      fmt::format_to(w, "<text x=\"{:.2f}\" y=\"{}\">", text_x, y + 10);
      append_xml(out, e.label);
      out += "</text></g>\n";
    }
    out += "</g>\n";
  }
  fmt::format_to(w,
                 "<text id=\"unzoom\" x=\"{}\" y=\"{}\" style=\"display:none\">Reset Zoom</text>\n",
                 kPadX, kFontSize * 2);
  fmt::format_to(w, "<text id=\"search\" x=\"{}\" y=\"{}\">Search</text>\n", o.width - kPadX - 24,
                 kFontSize * 2);
  fmt::format_to(w,
                 "<text id=\"ignorecase\" x=\"{}\" y=\"{}\"><title>Case-insensitive search "
                 "(Ctrl+I)</title>ic</text>\n",
                 o.width - kPadX, kFontSize * 2);
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

std::string frame_title(const StackTree& tree, const StackTree::Node& n, const SvgOptions& o,
                        std::string_view counted = {}) {
  const std::string_view name = tree.name(n.name);
  const std::string kind =
      n.kind == FrameKind::user ? std::string() : fmt::format(" [{}]", kind_name(n.kind));
  return fmt::format("{}{} ({}{} {}, {})", name, kind, counted, n.total, o.unit,
                     percent(n.total, tree.total()));
}

Rgb frame_fill(const StackTree& tree, std::uint32_t id, const SvgOptions& o,
               const ModuleColours* modules) {
  const StackTree::Node& n = tree.node(id);
  const std::string_view name = tree.name(n.name);
  if (o.palette == Palette::state && o.states) return state_fill(*o.states, id, name);
  if (!modules) return palette_colour(o.palette, n.kind, name);
  return modules->frame(modules->module_of(name, n.kind), name);
}

std::vector<std::string> user_subtitle(const SvgOptions& o) {
  if (o.subtitle.empty()) return {};
  return {o.subtitle};
}

}  // namespace

Result<Palette> parse_palette(std::string_view name) {
  if (name == "hot") return Palette::hot;
  if (name == "mem") return Palette::mem;
  if (name == "io") return Palette::io;
  if (name == "kind") return Palette::kind;
  if (name == "module") return Palette::module;
  if (name == "state") return Palette::state;
  return Error{fmt::format("unknown colour palette '{}'", name), 0,
               "  choose one of: hot, mem, io, kind (kernel, user, JIT and inlined frames apart), "
               "module (one hue per executable or library), state (on-CPU, sleeping, blocked, "
               "runnable time apart: record --off-cpu or --wall)"};
}

Result<std::string> flamegraph_svg(const StackTree& tree, const SvgOptions& o) {
  if (auto st = check(tree, o); !st) return std::move(st).take_error();
  std::optional<ModuleColours> modules;
  if (o.palette == Palette::module) modules.emplace(tree, o.modules);
  const ModuleColours* mc = modules ? &*modules : nullptr;
  if (o.palette == Palette::state && !o.states) {
    return Error{"--colors state needs the states of the frames", 0,
                 "  draw a profile of perfscope record --off-cpu or --wall"};
  }
  const FrameStates* states = o.palette == Palette::state ? o.states : nullptr;
  return render(tree, o, user_subtitle(o), legend(tree, o.palette, mc, 12, states),
                [&](std::uint32_t id) {
                  const StackTree::Node& n = tree.node(id);
                  std::string title = frame_title(tree, n, o);
                  if (states) title.insert(title.size() - 1, "; " + states->shares(id));
                  return FrameStyle{std::move(title), frame_fill(tree, id, o, mc)};
                });
}

Result<std::string> differential_svg(const StackTree& after, const StackTree& baseline,
                                     const SvgOptions& o, const DiffOptions& diff) {
  if (auto st = check(after, o); !st) return std::move(st).take_error();
  if (baseline.total() <= 0) {
    return Error{"the baseline has no samples to compare with", 0,
                 "  give --diff a profile with samples (after --pid/--comm)"};
  }
  // The tree drawn (its frames and widths) and the one it is compared with.
  const StackTree& drawn = diff.baseline_widths ? baseline : after;
  const StackTree& other = diff.baseline_widths ? after : baseline;
  // Each node of `drawn` matched to the node of `other` on the same path. Parents are created
  // before their children, so one pass in id order sees every parent first.
  std::vector<std::int64_t> match(drawn.size(), -1);
  match[StackTree::kRoot] = StackTree::kRoot;
  for (std::uint32_t id = 1; id < drawn.size(); ++id) {
    const StackTree::Node& n = drawn.node(id);
    if (match[n.parent] < 0) continue;
    const std::int64_t name = other.find_name(drawn.name(n.name));
    if (name < 0) continue;
    match[id] = other.find_child(static_cast<std::uint32_t>(match[n.parent]),
                                 {static_cast<std::uint32_t>(name), n.kind});
  }
  const double scale =
      diff.normalize ? static_cast<double>(after.total()) / static_cast<double>(baseline.total())
                     : 1.0;
  // Per drawn node: the input's count and the (scaled) baseline's; delta = growth.
  std::vector<double> now(drawn.size(), 0.0), before(drawn.size(), 0.0);
  double largest = 0;
  for (std::uint32_t id = 0; id < drawn.size(); ++id) {
    const double mine = static_cast<double>(drawn.node(id).total);
    const double theirs =
        match[id] < 0
            ? 0.0
            : static_cast<double>(other.node(static_cast<std::uint32_t>(match[id])).total);
    now[id] = diff.baseline_widths ? theirs : mine;
    before[id] = (diff.baseline_widths ? mine : theirs) * scale;
    if (id != StackTree::kRoot) largest = std::max(largest, std::abs(now[id] - before[id]));
  }
  std::vector<std::string> subtitles = user_subtitle(o);
  subtitles.push_back(fmt::format("differential{}: {} grew, {} shrank against the baseline{}",
                                  diff.baseline_widths ? ", frames sized by the baseline" : "",
                                  diff.negate ? "blue" : "red", diff.negate ? "red" : "blue",
                                  diff.normalize ? " (baseline scaled to the same total)" : ""));
  const int digits = diff.normalize ? 1 : 0;
  // Rounded for display, so tiny floating-point residues never print as "-0".
  auto shown = [&](double v) {
    const double scaled = std::round(v * (diff.normalize ? 10.0 : 1.0)) / (diff.normalize ? 10 : 1);
    return scaled == 0 ? 0.0 : scaled;
  };
  return render(drawn, o, subtitles, {}, [&](std::uint32_t id) {
    const StackTree::Node& n = drawn.node(id);
    const double delta = now[id] - before[id];
    std::string title = frame_title(drawn, n, o, diff.baseline_widths ? "baseline " : "");
    title.pop_back();  // the ')'
    double rel = before[id] > 0 ? std::round(10000.0 * delta / before[id]) / 100.0 : 0.0;
    if (rel == 0) rel = 0;
    auto t = std::back_inserter(title);
    if (!diff.baseline_widths) {
      if (match[id] < 0) {
        title += "; new)";
      } else {
        fmt::format_to(t, "; {:+.{}f} {} ({:+.2f}%) vs baseline {:.{}f})", shown(delta), digits,
                       o.unit, rel, shown(before[id]), digits);
      }
    } else if (match[id] < 0) {
      title += "; gone)";
    } else {
      fmt::format_to(t, "; {:+.{}f} {} ({:+.2f}%), now {:.0f})", shown(delta), digits, o.unit, rel,
                     now[id]);
    }
    const double ratio = largest > 0 ? delta / largest : 0.0;
    return FrameStyle{std::move(title), diff_colour(diff.negate ? -ratio : ratio)};
  });
}

}  // namespace perfscope::output
