// `perfscope flamegraph`: reads one input (or two with --diff), merges its stacks into a tree and
// writes the SVG (or the HTML page). Text inputs are read in chunks and folded as they arrive, so
// memory follows the number of distinct stacks, not the size of the input. Nothing is written
// unless everything succeeded.
#include "cli/flamegraph.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "output/flamegraph_svg.hpp"
#include "output/folded_reader.hpp"
#include "output/html.hpp"
#include "output/perf_script.hpp"
#include "output/speedscope.hpp"
#include "output/stack_tree.hpp"
#include "process/targets.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kDefaultProfile = "perfscope.pb.gz";
constexpr std::size_t kChunk = 1u << 20;

struct FlamegraphOptions {
  std::string input;  // empty: stdin when it is not a terminal, else perfscope.pb.gz
  std::string output = "-";
  std::string title;  // empty: chosen by mode
  int width = 1200;
  double min_width = 0.1;
  bool inverted = false;
  std::string colors = "hot";
  std::string pids;
  std::string comm;
  std::string diff;
  bool normalize = false;
  std::string sample_type;  // empty: the input's default
  std::string folded_out;
  std::string format;  // svg or html; empty: html for *.html and *.htm, else svg
};

struct Filters {
  std::vector<std::int64_t> pids;
  std::string comm;
};

// A loaded input: its tree, and what its counts are.
struct Loaded {
  output::StackTree tree;
  std::string sample_type = "samples";  // the type string of the counted values; may be empty
  std::string unit = "samples";         // what tooltips call the counts: sample_type, or samples
  bool roots_are_processes = false;     // the root frames are comm labels (perf script, pprof)
};

// Which sample type of an input to draw: a name or index as --sample-type takes it (empty: the
// input's default). `source` names the input in the error for a type it lacks.
struct SampleTypeChoice {
  std::string name = {};
  std::string source = "the profile";
  std::string hint = {};
};

// Folded stacks and perf script text count samples: one sample type, "samples". Checked with the
// same rules as a profile's types, so `--sample-type samples` and `--sample-type 0` work on any
// input.
Status check_single_type(const SampleTypeChoice& choice) {
  profile::Profile counts;
  counts.sample_types = {{counts.intern("samples"), counts.intern("count")}};
  auto index = profile::sample_type_index(counts, choice.name, choice.source);
  if (!index) {
    Error e = std::move(index).take_error();
    e.hint = choice.hint;
    return e;
  }
  return {};
}

// Closes what it opened, never stdin.
struct InputStream {
  std::FILE* f = nullptr;
  bool owned = false;
  ~InputStream() {
    if (owned && f != nullptr) std::fclose(f);
  }
};

Result<std::size_t> read_some(std::FILE* f, std::string& buf, std::size_t want,
                              const std::string& name) {
  const std::size_t old = buf.size();
  buf.resize(old + want);
  const std::size_t n = std::fread(buf.data() + old, 1, want, f);
  buf.resize(old + n);
  if (n == 0 && std::ferror(f)) return errno_error("cannot read " + name);
  return n;
}

// Streams the rest of `f` through `reader` (FoldedReader or PerfScriptReader), `head` first.
template <typename Reader>
Status stream_lines(std::FILE* f, std::string head, Reader& reader, const std::string& name) {
  output::LineSplitter lines;
  auto on_line = [&](std::string_view l) { return reader.add_line(l); };
  std::string buf = std::move(head);
  while (true) {
    if (auto st = lines.feed(buf, on_line); !st) return st;
    buf.clear();
    auto n = read_some(f, buf, kChunk, name);
    if (!n) return n.error();
    if (*n == 0) break;
  }
  return lines.finish(on_line);
}

Result<Loaded> load(const std::string& path, const Filters& filters,
                    const SampleTypeChoice& choice) {
  const std::string name = path == "-" ? std::string("standard input") : path;
  InputStream in;
  if (path == "-") {
    in.f = stdin;
  } else {
    in.f = std::fopen(path.c_str(), "rbe");
    if (in.f == nullptr) {
      Error e = errno_error("cannot open " + path);
      if (e.errnum == ENOENT && path == kDefaultProfile) {
        e.hint =
            "  record one with `perfscope record -- ./program`, name an input with -i FILE, or "
            "pipe `perf script` into `perfscope flamegraph`";
      }
      return e;
    }
    in.owned = true;
  }
  // Enough of the start to tell the format.
  std::string head;
  while (head.size() < 65536) {
    auto n = read_some(in.f, head, 65536 - head.size(), name);
    if (!n) return n.error();
    if (*n == 0) break;
  }
  Loaded out;
  const bool json = output::looks_like_json(head);
  if (json && !filters.pids.empty()) {
    return Error{name + " is a speedscope file, which carries no process ids", 0,
                 "  --pid needs a perfscope profile or perf script output; --comm matches the "
                 "profile names of a speedscope file with several profiles"};
  }
  const auto format = json ? output::InputFormat::pprof : output::detect_input_format(head);
  switch (format) {
    case output::InputFormat::pprof: {
      std::string bytes = std::move(head);
      while (true) {
        auto n = read_some(in.f, bytes, kChunk, name);
        if (!n) return n.error();
        if (*n == 0) break;
      }
      auto p = json ? output::parse_speedscope(bytes, name) : profile::decode_pprof(bytes, name);
      if (!p) return std::move(p).take_error();
      if (p->sample_types.empty()) {
        return Error{name + " has no sample types", 0,
                     "  the profile is malformed; record it again"};
      }
      auto value = profile::sample_type_index(*p, choice.name, choice.source);
      if (!value) {
        Error e = std::move(value).take_error();
        e.hint = choice.hint;
        return e;
      }
      auto tree = output::tree_from_profile(
          *p, {.value_index = *value,
               .filter = profile::SampleFilter{.pids = filters.pids, .comm = filters.comm}});
      if (!tree) return std::move(tree).take_error();
      out.tree = std::move(*tree);
      out.roots_are_processes = profile::LabelKeys(*p).comm >= 0;
      out.sample_type = std::string(p->string(p->sample_types[*value].type));
      out.unit = out.sample_type.empty() ? std::string("samples") : out.sample_type;
      return out;
    }
    case output::InputFormat::folded: {
      if (auto st = check_single_type(choice); !st) return std::move(st).take_error();
      if (!filters.pids.empty()) {
        return Error{name + " holds folded stacks, which carry no process ids", 0,
                     "  --pid needs a perfscope profile or perf script output; --comm matches "
                     "the root frame of folded stacks"};
      }
      output::FoldedReader reader(out.tree, name, {.comm = filters.comm});
      if (auto st = stream_lines(in.f, std::move(head), reader, name); !st) {
        return std::move(st).take_error();
      }
      if (reader.stacks() == 0 && out.tree.total() == 0 && filters.comm.empty()) {
        return Error{name + " holds no stacks with samples", 0, {}};
      }
      return out;
    }
    case output::InputFormat::perf_script: {
      if (auto st = check_single_type(choice); !st) return std::move(st).take_error();
      output::PerfScriptReader reader(out.tree, name, {.pids = filters.pids, .comm = filters.comm});
      out.roots_are_processes = true;
      if (auto st = stream_lines(in.f, std::move(head), reader, name); !st) {
        return std::move(st).take_error();
      }
      if (auto st = reader.finish(); !st) return std::move(st).take_error();
      return out;
    }
    case output::InputFormat::unknown:
      break;
  }
  if (head.empty()) {
    return Error{name + " is empty", 0,
                 "  give a perfscope profile, folded stacks, `perf script` output or a speedscope "
                 "file"};
  }
  return Error{"cannot tell what " + name + " holds", 0,
               "  perfscope flamegraph reads a perfscope profile (pprof), folded stacks\n"
               "  ('main;parse;memcpy 42'), the default text output of `perf script` or a "
               "speedscope JSON file"};
}

bool ends_with_ignoring_case(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  s.remove_prefix(s.size() - suffix.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != suffix[i]) return false;
  }
  return true;
}

int run_flamegraph(FlamegraphOptions o) {
  constexpr const char* kCmd = "flamegraph";
  auto palette = output::parse_palette(o.colors);
  if (!palette) return report_error(kCmd, palette.error());
  if (o.format.empty()) {
    o.format =
        ends_with_ignoring_case(o.output, ".html") || ends_with_ignoring_case(o.output, ".htm")
            ? "html"
            : "svg";
  }
  if (o.format != "svg" && o.format != "html") {
    return report_error(kCmd, Error{"unknown output format '" + o.format + "'", 0,
                                    "  choose --format svg or --format html"});
  }
  const bool html = o.format == "html";
  if (html && !o.diff.empty()) {
    return report_error(kCmd, Error{"--diff draws an SVG only", 0,
                                    "  write the differential flame graph to a .svg file"});
  }
  if (o.normalize && o.diff.empty()) {
    return report_error(kCmd, Error{"--normalize needs --diff BASELINE", 0,
                                    "  normalising scales the baseline to the input's total"});
  }
  Filters filters;
  if (!o.pids.empty()) {
    auto pids = process::parse_pid_filter(o.pids);
    if (!pids) return report_error(kCmd, pids.error());
    filters.pids = std::move(*pids);
  }
  filters.comm = o.comm;
  if (o.input.empty()) o.input = ::isatty(STDIN_FILENO) ? kDefaultProfile : "-";
  if (o.input == "-" && o.diff == "-") {
    return report_error(kCmd, Error{"the input and the baseline cannot both be standard input", 0,
                                    "  name one of them with a file"});
  }

  const std::string input_name = o.input == "-" ? std::string("standard input") : o.input;
  auto loaded = load(o.input, filters, {.name = o.sample_type, .source = input_name});
  if (!loaded) return report_error(kCmd, loaded.error());
  if (loaded->tree.total() <= 0) {
    return report_error(kCmd, Error{"no samples to draw in " + input_name, 0,
                                    filters.pids.empty() && filters.comm.empty()
                                        ? std::string()
                                        : "  no sample matched --pid/--comm"});
  }
  output::SvgOptions svg{.title = o.title,
                         .width = o.width,
                         .min_width = o.min_width,
                         .inverted = o.inverted,
                         .palette = *palette,
                         .unit = loaded->unit};
  Result<std::string> text = std::string();
  if (html) {
    if (o.width < 200 || o.width > 1000000) {
      return report_error(kCmd, Error{fmt::format("width {} is out of range", o.width), 0,
                                      "  give --width between 200 and 1000000 pixels"});
    }
    text = output::flamegraph_html(loaded->tree,
                                   {.title = o.title.empty() ? std::string("Flame Graph") : o.title,
                                    .unit = loaded->unit,
                                    .palette = *palette,
                                    .min_share = o.min_width / (o.width - 20.0),
                                    .icicle_first = o.inverted,
                                    .roots_are_processes = loaded->roots_are_processes});
  } else if (o.diff.empty()) {
    if (svg.title.empty()) svg.title = o.inverted ? "Icicle Graph" : "Flame Graph";
    text = output::flamegraph_svg(loaded->tree, svg);
  } else {
    // The baseline counts what the input counts, by name (an index may mean another type there).
    const std::string baseline_name = o.diff == "-" ? std::string("standard input") : o.diff;
    auto baseline = load(o.diff, filters,
                         {.name = loaded->sample_type,
                          .source = "the baseline " + baseline_name,
                          .hint = fmt::format("  --diff compares the same sample type in both "
                                              "inputs ({} in {}); choose one with --sample-type",
                                              loaded->unit, input_name)});
    if (!baseline) return report_error(kCmd, baseline.error());
    if (svg.title.empty()) svg.title = "Differential Flame Graph";
    text = output::differential_svg(loaded->tree, baseline->tree, svg, {.normalize = o.normalize});
  }
  if (!text) return report_error(kCmd, text.error());

  // Both files are complete in memory before either is created.
  std::optional<OutputFile> folded_file;
  std::string folded;
  if (!o.folded_out.empty()) {
    folded = output::folded_from_tree(loaded->tree);
    auto f = OutputFile::open(o.folded_out);
    if (!f) return report_error(kCmd, f.error());
    folded_file.emplace(std::move(*f));
  }
  auto out = OutputFile::open(o.output);
  if (!out) return report_error(kCmd, out.error());
  // A short write (disk full, file size limit) leaves the temporary files to be discarded.
  if (std::fwrite(text->data(), 1, text->size(), out->stream()) != text->size()) {
    return report_error(kCmd, errno_error("cannot write output file " + o.output));
  }
  if (folded_file &&
      std::fwrite(folded.data(), 1, folded.size(), folded_file->stream()) != folded.size()) {
    return report_error(kCmd, errno_error("cannot write output file " + o.folded_out));
  }
  if (auto st = out->commit(); !st) return report_error(kCmd, st.error());
  if (folded_file) {
    if (auto st = folded_file->commit(); !st) return report_error(kCmd, st.error());
  }
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
          std::string(kDefaultProfile) + ")");
  sub->add_option("-o,--output", o->output,
                  "Write to FILE instead of standard output (replaced only when complete); "
                  "*.html gets the HTML page");
  sub->add_option("--format", o->format,
                  "svg, or html: one offline page with the flame graph, the icicle graph and a "
                  "sortable table of the top functions (default: html for *.html, else svg)");
  sub->add_option("--title", o->title, "The title at the top of the graph");
  sub->add_option("--width", o->width, "Width of the image in pixels")->capture_default_str();
  sub->add_option("--min-width", o->min_width,
                  "Leave out frames narrower than this many pixels (at --width, for HTML too)")
      ->capture_default_str();
  sub->add_flag("--inverted", o->inverted,
                "Draw an icicle graph: roots at the top (HTML: the icicle graph comes first)");
  sub->add_option("--colors", o->colors,
                  "Palette: hot, mem, io, or kind (kernel, user, JIT and inlined frames apart)")
      ->capture_default_str();
  sub->add_option("--pid", o->pids, "Only samples of these processes (comma-separated)");
  sub->add_option("--comm", o->comm, "Only samples of threads with this command name");
  sub->add_option("--diff", o->diff,
                  "Compare with BASELINE (same kinds of input): red grew, blue shrank");
  sub->add_flag("--normalize", o->normalize,
                "With --diff, scale the baseline to the input's total first");
  sub->add_option("--sample-type", o->sample_type,
                  "Weigh frames by this sample type of a profile (alloc_space, cpu, ...) or its "
                  "0-based index (default: the profile's default type, else the first); --diff "
                  "takes the same type from the baseline. Other inputs have one type, samples");
  sub->add_option("--folded-out", o->folded_out,
                  "Also write the merged stacks as folded lines to FILE");
  sub->footer(
      "Examples:\n"
      "  perfscope flamegraph -o app.svg                  (reads perfscope.pb.gz)\n"
      "  perf script | perfscope flamegraph > perf.svg\n"
      "  perfscope flamegraph -i perfscope.pb.gz -o app.html\n"
      "  perfscope flamegraph -i after.pb.gz --diff before.pb.gz --normalize -o diff.svg\n"
      "  perfscope flamegraph -i heap.pb.gz --sample-type alloc_space -o alloc.svg\n"
      "  perfscope flamegraph -i app.folded --colors kind --inverted -o icicle.svg");
  sub->callback([o, &exit_code] { exit_code = run_flamegraph(*o); });
}

}  // namespace perfscope::cli
