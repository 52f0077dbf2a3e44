// `perfscope convert`: reads the whole input, turns it into a Profile (the hub every format goes
// through), and writes the output format. The output is complete in memory before the file is
// created, and a regular file is written to a temporary beside it and renamed into place, so a
// failed conversion leaves no file and never half of one.
#include "cli/convert.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <memory>

#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "output/folded.hpp"
#include "output/folded_reader.hpp"
#include "output/perf_script.hpp"
#include "output/speedscope.hpp"
#include "output/stack_tree.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "convert";
constexpr const char* kDefaultProfile = "perfscope.pb.gz";

enum class Format { pprof, folded, speedscope };

struct ConvertOptions {
  std::string input;  // empty: stdin when it is not a terminal, else perfscope.pb.gz
  std::string output;
  std::string to;  // empty: from the output's name
};

constexpr const char* kFormatHint =
    "  name the output *.pb.gz (pprof), *.folded (folded stacks) or *.speedscope.json "
    "(speedscope), or give --to pprof|folded|speedscope";

Result<Format> parse_format(std::string_view name) {
  if (name == "pprof") return Format::pprof;
  if (name == "folded") return Format::folded;
  if (name == "speedscope") return Format::speedscope;
  return Error{fmt::format("unknown output format '{}'", name), 0,
               "  choose one of: pprof, folded, speedscope"};
}

Result<Format> format_of_name(const std::string& path) {
  for (std::string_view ext : {".pb.gz", ".pb", ".pprof", ".pprof.gz"}) {
    if (path.ends_with(ext)) return Format::pprof;
  }
  for (std::string_view ext : {".folded", ".collapsed"}) {
    if (path.ends_with(ext)) return Format::folded;
  }
  if (path.ends_with(".json")) return Format::speedscope;
  if (path == "-") {
    return Error{"writing to standard output needs --to", 0,
                 "  give --to pprof, --to folded or --to speedscope"};
  }
  return Error{"cannot tell the output format from the name " + path, 0, kFormatHint};
}

Result<std::string> read_input(const std::string& path, const std::string& name) {
  std::FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rbe");
  if (f == nullptr) {
    Error e = errno_error("cannot open " + path);
    if (e.errnum == ENOENT && path == kDefaultProfile) {
      e.hint = "  record one with `perfscope record -- ./program`, or name the input with -i FILE";
    }
    return e;
  }
  std::string data;
  char buf[1 << 16];
  while (true) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    data.append(buf, n);
    if (n < sizeof buf) break;
  }
  const bool failed = std::ferror(f) != 0;
  const int e = errno;
  if (f != stdin) std::fclose(f);
  if (failed) {
    errno = e;
    return errno_error("cannot read " + name);
  }
  return data;
}

// Any input perfscope reads, as a Profile.
Result<profile::Profile> load(const std::string& path) {
  const std::string name = path == "-" ? std::string("standard input") : path;
  auto data = read_input(path, name);
  if (!data) return data.error();
  if (output::looks_like_json(*data)) return output::parse_speedscope(*data, name);
  switch (output::detect_input_format(*data)) {
    case output::InputFormat::pprof:
      return profile::decode_pprof(*data, name);
    case output::InputFormat::folded: {
      output::StackTree tree;
      output::FoldedReader reader(tree, name);
      if (auto st = reader.add_text(*data); !st) return std::move(st).take_error();
      return output::profile_from_tree(tree);
    }
    case output::InputFormat::perf_script: {
      output::StackTree tree;
      output::PerfScriptReader reader(tree, name);
      if (auto st = reader.add_text(*data); !st) return std::move(st).take_error();
      return output::profile_from_tree(tree);
    }
    case output::InputFormat::unknown:
      break;
  }
  if (data->find_first_not_of(" \t\r\n") == std::string::npos) {
    return Error{name + " is empty", 0,
                 "  give a perfscope profile (pprof), folded stacks, perf script text or a "
                 "speedscope JSON file"};
  }
  return Error{"cannot tell what " + name + " holds", 0,
               "  perfscope convert reads pprof profiles, folded stacks ('main;parse;memcpy 42'), "
               "the text output of `perf script` and speedscope JSON files"};
}

int run_convert(ConvertOptions o) {
  if (o.input.empty()) o.input = ::isatty(STDIN_FILENO) ? kDefaultProfile : "-";
  if (o.output.empty()) o.output = "-";
  auto format = o.to.empty() ? format_of_name(o.output) : parse_format(o.to);
  if (!format) return report_error(kCmd, format.error());

  auto p = load(o.input);
  if (!p) return report_error(kCmd, p.error());
  const std::string name = o.input == "-" ? std::string("standard input") : o.input;
  if (p->sample_types.empty() || p->samples().empty()) {
    return report_error(kCmd, Error{name + " holds no samples: there is nothing to convert", 0,
                                    "  check that the recording or the export worked"});
  }

  if (*format == Format::pprof) {
    if (auto st = profile::write_pprof(*p, o.output); !st) return report_error(kCmd, st.error());
    return 0;
  }
  Result<std::string> text = std::string();
  if (*format == Format::folded) {
    text = output::folded(*p);
  } else {
    const std::string base = std::string(profile::basename(o.input));
    text = output::speedscope_json(*p, {.name = o.input == "-" ? std::string("perfscope") : base});
  }
  if (!text) return report_error(kCmd, text.error());
  auto out = OutputFile::open(o.output);
  if (!out) return report_error(kCmd, out.error());
  // A short write (disk full, file size limit) is caught here: the OutputFile then discards the
  // temporary file instead of renaming a partial one into place.
  if (std::fwrite(text->data(), 1, text->size(), out->stream()) != text->size()) {
    return report_error(kCmd, errno_error("cannot write output file " + o.output));
  }
  if (auto st = out->commit(); !st) return report_error(kCmd, st.error());
  return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ConvertOptions>();
  auto* sub = app.add_subcommand(
      "convert", "Convert a profile between pprof, folded stacks and speedscope JSON");
  sub->add_option("-i,--input", o->input,
                  "What to convert: a pprof profile, folded stacks, perf script text or a "
                  "speedscope JSON file, told apart by content (- for stdin; default: stdin when "
                  "piped, else " +
                      std::string(kDefaultProfile) + ")");
  sub->add_option("-o,--output", o->output,
                  "Where to write; the format follows the name: *.pb.gz pprof, *.folded folded "
                  "stacks, *.speedscope.json speedscope (- for stdout, with --to)");
  sub->add_option("--to", o->to, "The output format whatever the name: pprof, folded, speedscope");
  sub->footer(
      "Examples:\n"
      "  perfscope convert -i perfscope.pb.gz -o app.speedscope.json\n"
      "  perfscope convert -i app.speedscope.json -o app.folded\n"
      "  perf script | perfscope convert -o perf.pb.gz\n"
      "  perfscope convert -i app.folded --to speedscope > app.json");
  sub->callback([o, &exit_code] { exit_code = run_convert(*o); });
}

}  // namespace perfscope::cli
