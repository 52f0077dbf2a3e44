// `perfscope flamegraph`: reads one input (or two with --diff) through formats/, merges its stacks
// into a tree and writes the SVG (or the HTML page). Nothing is written before everything is
// drawn.
#include "cli/flamegraph.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/flags.hpp"
#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "formats/input.hpp"
#include "output/flamegraph_svg.hpp"
#include "output/html.hpp"
#include "output/stack_tree.hpp"
#include "process/targets.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::cli {
namespace {

struct FlamegraphOptions {
  std::string input;  // empty: stdin when it is not a terminal, else perfscope.pb.gz
  std::string output = "-";
  std::string title;  // empty: chosen by mode
  std::string subtitle;
  int width = 1200;
  double min_width = 0.1;
  bool inverted = false;
  std::string colors = "hot";
  std::string pids;
  std::string comm;
  std::string diff;
  bool normalize = false;
  bool negate = false;           // --diff: blue grew, red shrank
  bool baseline_widths = false;  // --diff: the baseline's frames and widths
  std::string sample_type;       // empty: the input's default
  std::uint64_t max_input_mib = formats::kDefaultMaxInputBytes >> 20;  // --max-input
  std::string folded_out;
  std::string format;  // svg or html; empty: html for *.html and *.htm, else svg
};

// A loaded input as the tree to draw, and what its counts are.
struct Loaded {
  output::StackTree tree;
  std::string sample_type;           // the type string of the counted values; may be empty
  std::string unit;                  // what tooltips call the counts: sample_type, or samples
  bool roots_are_processes = false;  // the root frames are comm labels (perf script, pprof)
  output::FrameModules modules;      // filled for --colors module only
  std::optional<output::FrameStates> states;  // filled for --colors state only
};

// Which sample type of an input to draw: a name or index as --sample-type takes it (empty: the
// input's default). `source` names the input in the error for a type it lacks.
struct SampleTypeChoice {
  std::string name = {};
  std::string source = "the profile";
  std::string hint = {};
};

Result<Loaded> load(const std::string& path, const profile::SampleFilter& filter,
                    const SampleTypeChoice& choice, std::uint64_t max_input_mib,
                    output::Palette palette = output::Palette::hot) {
  auto in = formats::load_input(path, {.filter = filter, .max_bytes = max_input_mib << 20});
  if (!in) return in.error();
  for (const auto& note : in->notes) fmt::print(stderr, "perfscope flamegraph: {}\n", note);
  const profile::Profile& p = in->profile;
  if (p.sample_types.empty()) {
    return Error{in->source + " has no sample types", 0,
                 "  the profile is malformed; record it again"};
  }
  auto value = profile::sample_type_index(p, choice.name, choice.source);
  if (!value) {
    Error e = std::move(value).take_error();
    e.hint = choice.hint;
    return e;
  }
  // load_input applied the filter.
  auto tree = output::tree_from_profile(p, {.value_index = *value});
  if (!tree) return tree.error();
  std::optional<output::FrameStates> states;
  if (palette == output::Palette::state) {
    auto s = output::FrameStates::from_profile(p, {.value_index = *value}, *tree);
    if (!s) return s.error();
    states.emplace(std::move(*s));
  }
  std::string type(p.string(p.sample_types[*value].type));
  std::string unit = type.empty() ? std::string("samples") : type;
  return Loaded{.tree = std::move(*tree),
                .sample_type = std::move(type),
                .unit = std::move(unit),
                .roots_are_processes = profile::LabelKeys(p).comm >= 0,
                .modules = palette == output::Palette::module
                               ? output::FrameModules::from_profile(p)
                               : output::FrameModules{},
                .states = std::move(states)};
}

bool ends_with_ignoring_case(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  s.remove_prefix(s.size() - suffix.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != suffix[i]) return false;
  }
  return true;
}

// Conflicting or unknown options, refused before any input is read. Chooses the format.
Status check_options(FlamegraphOptions& o) {
  if (o.format.empty()) {
    o.format =
        ends_with_ignoring_case(o.output, ".html") || ends_with_ignoring_case(o.output, ".htm")
            ? "html"
            : "svg";
  }
  if (o.format != "svg" && o.format != "html") {
    return Error{"unknown output format '" + o.format + "'", 0,
                 "  choose --format svg or --format html"};
  }
  if (o.colors == "state" && !o.diff.empty()) {
    return Error{"--colors state draws one profile, not a --diff", 0,
                 "  a differential flame graph is coloured by growth"};
  }
  if (o.format == "html" && !o.diff.empty()) {
    return Error{"--diff draws an SVG only", 0,
                 "  write the differential flame graph to a .svg file"};
  }
  if (o.normalize && o.diff.empty()) {
    return Error{"--normalize needs --diff BASELINE", 0,
                 "  normalising scales the baseline to the input's total"};
  }
  if (o.negate && o.diff.empty()) {
    return Error{"--negate needs --diff BASELINE", 0,
                 "  it swaps the differential flame graph's red and blue"};
  }
  if (o.baseline_widths && o.diff.empty()) {
    return Error{"--baseline-widths needs --diff BASELINE", 0,
                 "  it draws the baseline's frames, coloured by how the input changed them"};
  }
  if (o.input.empty()) o.input = ::isatty(STDIN_FILENO) ? formats::kDefaultProfile : "-";
  if (o.input == "-" && o.diff == "-") {
    return Error{"the input and the baseline cannot both be standard input", 0,
                 "  name one of them with a file"};
  }
  return {};
}

// The HTML page, the SVG, or the differential SVG against the baseline --diff names.
Result<std::string> draw(const FlamegraphOptions& o, const Loaded& in, output::Palette palette,
                         const profile::SampleFilter& filter) {
  if (o.format == "html") {
    if (o.width < 200 || o.width > 1000000) {
      return Error{fmt::format("width {} is out of range", o.width), 0,
                   "  give --width between 200 and 1000000 pixels"};
    }
    return output::flamegraph_html(in.tree,
                                   {.title = o.title.empty() ? std::string("Flame Graph") : o.title,
                                    .unit = in.unit,
                                    .palette = palette,
                                    .subtitle = o.subtitle,
                                    .modules = &in.modules,
                                    .states = in.states ? &*in.states : nullptr,
                                    .min_share = o.min_width / (o.width - 20.0),
                                    .icicle_first = o.inverted,
                                    .roots_are_processes = in.roots_are_processes});
  }
  output::SvgOptions svg{.title = o.title,
                         .width = o.width,
                         .min_width = o.min_width,
                         .inverted = o.inverted,
                         .palette = palette,
                         .unit = in.unit,
                         .subtitle = o.subtitle,
                         .modules = &in.modules,
                         .states = in.states ? &*in.states : nullptr};
  if (o.diff.empty()) {
    if (svg.title.empty()) svg.title = o.inverted ? "Icicle Graph" : "Flame Graph";
    return output::flamegraph_svg(in.tree, svg);
  }
  // The baseline counts what the input counts, by name (an index may mean another type there).
  auto baseline = load(o.diff, filter,
                       {.name = in.sample_type,
                        .source = "the baseline " + formats::input_name(o.diff),
                        .hint = fmt::format("  --diff compares the same sample type in both "
                                            "inputs ({} in {}); choose one with --sample-type",
                                            in.unit, formats::input_name(o.input))},
                       o.max_input_mib);
  if (!baseline) return baseline.error();
  if (svg.title.empty()) svg.title = "Differential Flame Graph";
  return output::differential_svg(
      in.tree, baseline->tree, svg,
      {.normalize = o.normalize, .negate = o.negate, .baseline_widths = o.baseline_widths});
}

int run_flamegraph(FlamegraphOptions o) {
  constexpr const char* kCmd = "flamegraph";
  auto palette = output::parse_palette(o.colors);
  if (!palette) return report_error(kCmd, palette.error());
  if (auto st = check_options(o); !st) return report_error(kCmd, st.error());
  profile::SampleFilter filter{.comm = o.comm};
  if (!o.pids.empty()) {
    auto pids = process::parse_pid_filter(o.pids);
    if (!pids) return report_error(kCmd, pids.error());
    filter.pids = std::move(*pids);
  }

  const std::string input_name = formats::input_name(o.input);
  auto loaded = load(o.input, filter, {.name = o.sample_type, .source = input_name},
                     o.max_input_mib, *palette);
  if (!loaded) return report_error(kCmd, loaded.error());
  if (loaded->tree.total() <= 0) {
    return report_error(kCmd,
                        Error{"no samples to draw in " + input_name, 0,
                              filter.empty() ? std::string() : "  no sample matched --pid/--comm"});
  }
  auto text = draw(o, *loaded, *palette, filter);
  if (!text) return report_error(kCmd, text.error());
  // Each file is replaced only when complete; the graph goes last, so that a --folded-out that
  // cannot be written leaves it as it was.
  if (!o.folded_out.empty()) {
    if (auto st = write_output_file(o.folded_out, output::folded_from_tree(loaded->tree)); !st) {
      return report_error(kCmd, st.error());
    }
  }
  if (auto st = write_output_file(o.output, *text); !st) return report_error(kCmd, st.error());
  return 0;
}

}  // namespace

void add_flamegraph_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<FlamegraphOptions>();
  auto* sub = app.add_subcommand(
      "flamegraph",
      "Draw an interactive flame graph (SVG or HTML) of a profile, folded stacks, perf script "
      "or speedscope");
  sub->add_option(
      "-i,--input", o->input,
      "What to draw: a perfscope profile, folded stacks, `perf script` output or a "
      "speedscope file, told apart by content (- for stdin; default: stdin when piped, else " +
          std::string(formats::kDefaultProfile) + ")");
  sub->add_option("-o,--output", o->output,
                  "Write to FILE instead of standard output (replaced only when complete); "
                  "*.html gets the HTML page");
  sub->add_option("--format", o->format,
                  "svg, or html: one offline page with the flame graph, the icicle graph and a "
                  "sortable table of the top functions (default: html for *.html, else svg)");
  sub->add_option("--title", o->title, "The title at the top of the graph");
  sub->add_option("--subtitle", o->subtitle, "A line of text under the title");
  sub->add_option("--width", o->width, "Width of the image in pixels")->capture_default_str();
  sub->add_option("--min-width", o->min_width,
                  "Leave out frames narrower than this many pixels (at --width, for HTML too)")
      ->capture_default_str();
  sub->add_flag("--inverted", o->inverted,
                "Draw an icicle graph: roots at the top (HTML: the icicle graph comes first)");
  sub->add_option("--colors", o->colors,
                  "Palette: hot, mem, io, kind (kernel, user, JIT and inlined frames apart, with "
                  "a legend), module (one hue per executable or library, with a legend) or state "
                  "(on-CPU, sleeping, blocked and runnable time of record --off-cpu/--wall apart, "
                  "with a legend)")
      ->capture_default_str();
  sub->add_option("--pid", o->pids, "Only samples of these processes (comma-separated)");
  sub->add_option("--comm", o->comm, "Only samples of threads with this command name");
  sub->add_option("--diff", o->diff,
                  "Compare with BASELINE (same kinds of input): red grew, blue shrank");
  sub->add_flag("--normalize", o->normalize,
                "With --diff, scale the baseline to the input's total first");
  sub->add_flag("--negate", o->negate,
                "With --diff, swap the hues: blue grew, red shrank (flamegraph.pl --negate)");
  sub->add_flag("--baseline-widths", o->baseline_widths,
                "With --diff, draw the baseline's frames at their widths there, coloured by how "
                "the input changed them: a function that vanished shows at its old width");
  add_max_input(sub, o->max_input_mib);
  sub->add_option(
      "--sample-type", o->sample_type,
      "Weigh frames by this sample type of a profile (alloc_space, cpu, ...) or its "
      "0-based index (default: the profile's default type, else the last, as Go's pprof); --diff "
      "takes the same type from the baseline. Folded stacks have one type, samples; perf "
      "script text has samples and its periods (the default)");
  sub->add_option("--folded-out", o->folded_out,
                  "Also write the merged stacks as folded lines to FILE");
  sub->footer(
      "Examples:\n"
      "  perfscope flamegraph -o app.svg                  (reads perfscope.pb.gz)\n"
      "  perf script | perfscope flamegraph > perf.svg\n"
      "  perfscope flamegraph -i perfscope.pb.gz -o app.html\n"
      "  perfscope flamegraph -i after.pb.gz --diff before.pb.gz --normalize -o diff.svg\n"
      "  perfscope flamegraph -i after.pb.gz --diff before.pb.gz --baseline-widths -o gone.svg\n"
      "  perfscope flamegraph -i perfscope.pb.gz --colors module --subtitle 'host A' -o m.svg\n"
      "  perfscope flamegraph -i heap.pb.gz --sample-type alloc_space -o alloc.svg\n"
      "  perfscope flamegraph -i wall.pb.gz --colors state -o wall.svg\n"
      "  perfscope flamegraph -i app.folded --colors kind --inverted -o icicle.svg");
  sub->callback([o, &exit_code] { exit_code = run_flamegraph(*o); });
}

}  // namespace perfscope::cli
