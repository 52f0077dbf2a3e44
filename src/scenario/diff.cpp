#include "scenario/diff.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <vector>

#include "core/files.hpp"
#include "core/output_file.hpp"
#include "heap/text_report.hpp"
#include "output/flamegraph_svg.hpp"
#include "output/stack_tree.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"
#include "scenario/summary.hpp"

namespace perfscope::scenario {
namespace {

namespace fs = std::filesystem;

struct Loaded {
  std::string dir;
  ScenarioSummary summary;
};

Result<Loaded> load(const DiffOptions& o, const std::string& name) {
  for (const std::string& dir : {(fs::path(o.results) / name).string(), name}) {
    if (!path_exists(dir + "/summary.json")) continue;
    auto text = read_text_file(dir + "/summary.json");
    if (!text) return text.error();
    auto s = from_json(*text);
    if (!s) return Error{dir + "/summary.json: " + s.error().op, 0, s.error().hint};
    return Loaded{dir, std::move(*s)};
  }
  return Error{fmt::format("no scenario '{}' (looked for {}/{}/summary.json and {}/summary.json)",
                           name, o.results, name, name),
               0, "  run it first: perfscope scenario " + name + " -- CMD"};
}

std::string change_percent(double before, double after) {
  return before > 0 ? fmt::format("{:+.1f}%", 100.0 * (after - before) / before) : std::string();
}

std::string numbers_table(const ScenarioSummary& a, const ScenarioSummary& b) {
  std::string md = "| run | " + a.name + " | " + b.name + " | change |\n|---|---|---|---|\n";
  for (const auto& [phase, ra] : a.runs) {
    const auto rb = b.runs.find(phase);
    if (rb == b.runs.end()) continue;
    md += fmt::format("| {} wall time | {} | {} | {} |\n", phase_name(phase),
                      format_seconds(ra.seconds), format_seconds(rb->second.seconds),
                      change_percent(ra.seconds, rb->second.seconds));
  }
  if (a.memory && b.memory && a.memory->peak && b.memory->peak) {
    const auto x = a.memory->peak->peak_bytes, y = b.memory->peak->peak_bytes;
    md += fmt::format("| peak heap | {} | {} | {} |\n", heap::format_size(x), heap::format_size(y),
                      change_percent(static_cast<double>(x), static_cast<double>(y)));
  }
  if (a.io && b.io) {
    md += fmt::format(
        "| system calls | {} | {} | {:+} |\n", a.io->calls, b.io->calls,
        static_cast<std::int64_t>(b.io->calls) - static_cast<std::int64_t>(a.io->calls));
  }
  return md;
}

// Self and total share of each function, in percent of the profile.
struct Share {
  double self = 0, total = 0;
};
std::map<std::string, Share> shares(const profile::Profile& p) {
  std::map<std::string, Share> out;
  auto hot = profile::hottest(p, {});
  if (!hot || hot->total <= 0) return out;
  const auto all = static_cast<double>(hot->total);
  for (const auto& e : hot->entries) {
    out[e.name] = {100.0 * static_cast<double>(e.self) / all,
                   100.0 * static_cast<double>(e.total) / all};
  }
  return out;
}

// The functions whose self or total share moved most, in points.
std::string moves_table(const profile::Profile& pa, const profile::Profile& pb,
                        const std::string& a_name, const std::string& b_name) {
  auto sa = shares(pa), sb = shares(pb);
  std::map<std::string, bool> names;
  for (const auto& [n, v] : sa) names[n] = true;
  for (const auto& [n, v] : sb) names[n] = true;
  std::vector<std::pair<double, std::string>> moves;
  for (const auto& [n, unused] : names) {
    const double ds = sb[n].self - sa[n].self, dt = sb[n].total - sa[n].total;
    moves.emplace_back(std::fabs(ds) > std::fabs(dt) ? ds : dt, n);
  }
  std::stable_sort(moves.begin(), moves.end(), [](const auto& l, const auto& r) {
    return std::fabs(l.first) > std::fabs(r.first);
  });
  std::string md = fmt::format(
      "\n## CPU: functions whose share changed most\n\n| function | self {0} | self {1} | "
      "total {0} | total {1} | change (points) |\n|---|---|---|---|---|---|\n",
      a_name, b_name);
  for (std::size_t i = 0; i < moves.size() && i < 10; ++i) {
    const auto& [d, n] = moves[i];
    if (std::fabs(d) < 0.05) break;
    md += fmt::format("| `{}` | {:.1f}% | {:.1f}% | {:.1f}% | {:.1f}% | {:+.1f} |\n", n, sa[n].self,
                      sb[n].self, sa[n].total, sb[n].total, d);
  }
  return md;
}

// B's flame graph coloured by the change from A, A scaled to B's total.
Result<std::string> differential(const profile::Profile& pa, const profile::Profile& pb,
                                 const std::string& title) {
  auto ta = output::tree_from_profile(pa);
  if (!ta) return ta.error();
  auto tb = output::tree_from_profile(pb);
  if (!tb) return tb.error();
  const std::string unit =
      pb.sample_types.empty() ? std::string() : std::string(pb.string(pb.sample_types[0].type));
  return output::differential_svg(*tb, *ta,
                                  {.title = title,
                                   .width = 1200,
                                   .min_width = 0.1,
                                   .inverted = false,
                                   .palette = output::Palette::hot,
                                   .unit = unit.empty() ? std::string("samples") : unit},
                                  {.normalize = true});
}

}  // namespace

Result<DiffResult> diff_scenarios(const DiffOptions& o) {
  auto a = load(o, o.before);
  if (!a) return a.error();
  auto b = load(o, o.after);
  if (!b) return b.error();
  const std::string &a_name = a->summary.name, &b_name = b->summary.name;
  DiffResult out;
  out.folder = o.output.empty()
                   ? (fs::path(o.results) / fmt::format("diff-{}-{}", a_name, b_name)).string()
                   : o.output;
  std::error_code ec;
  fs::create_directories(out.folder, ec);
  if (ec) return Error{"create " + out.folder, ec.value(), "  choose another folder with -o DIR"};

  std::string md = fmt::format("# {} → {}\n\n`{}` → `{}`\n\n", a_name, b_name, a->summary.command,
                               b->summary.command);
  md += numbers_table(a->summary, b->summary);
  const std::string a_prof = a->dir + "/profile.pb.gz", b_prof = b->dir + "/profile.pb.gz";
  if (path_exists(a_prof) && path_exists(b_prof)) {
    auto pa = profile::read_pprof(a_prof);
    if (!pa) return pa.error();
    auto pb = profile::read_pprof(b_prof);
    if (!pb) return pb.error();
    md += moves_table(*pa, *pb, a_name, b_name);
    md += "\nDifferential flame graph: [diff.svg](diff.svg) (red: more in " + b_name +
          ", blue: less; the baseline is scaled to the same total).\n";
    auto svg = differential(*pa, *pb, fmt::format("{} → {}", a_name, b_name));
    if (!svg)
      return Error{"the differential flame graph could not be drawn: " + svg.error().op, 0,
                   svg.error().hint};
    if (auto st = write_output_file(out.folder + "/diff.svg", *svg); !st) return st.error();
    out.svg = true;
  } else {
    md += "\nNo CPU profile in both scenarios: no differential flame graph.\n";
  }
  if (auto st = write_output_file(out.folder + "/diff.md", md); !st) return st.error();
  out.markdown = std::move(md);
  return out;
}

}  // namespace perfscope::scenario
