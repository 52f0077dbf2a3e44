// `perfscope convert`: reads any input formats/ reads as a Profile (the hub every format goes
// through) and writes it in the format asked for. The output is complete in memory before the file
// is created, and a regular file is written to a temporary beside it and renamed into place, so a
// failed conversion leaves no file and never half of one.
#include "cli/convert.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "cli/flags.hpp"
#include "cli/report_error.hpp"
#include "core/output_file.hpp"
#include "formats/input.hpp"
#include "output/folded.hpp"
#include "output/speedscope.hpp"
#include "profile/names.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::cli {
namespace {

constexpr const char* kCmd = "convert";

enum class Format { pprof, folded, speedscope };

struct ConvertOptions {
  std::string input;  // empty: stdin when it is not a terminal, else perfscope.pb.gz
  std::string output;
  std::string to;           // empty: from the output's name
  std::string sample_type;  // empty: the input's default
  bool annotate = false;    // --annotate: kind suffixes in folded output
  std::uint64_t max_input_mib = formats::kDefaultMaxInputBytes >> 20;  // --max-input
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

// The converted bytes of `p` (pprof is gzipped profile.proto, as `record` writes it). Folded
// stacks and speedscope carry one value a stack, sample type `value`.
Result<std::string> render(Format format, const profile::Profile& p, std::size_t value,
                           const ConvertOptions& o) {
  const std::string& input = o.input;
  switch (format) {
    case Format::pprof:
      return profile::encode_pprof_gzipped(p);
    case Format::folded:
      return output::folded(p, {.annotate = o.annotate, .value_index = value});
    case Format::speedscope:
      return output::speedscope_json(
          p,
          {.name = input == "-" ? std::string("perfscope") : std::string(profile::basename(input)),
           .value_index = value});
  }
  return Error{"unknown output format", 0, {}};
}

int run_convert(ConvertOptions o) {
  if (o.input.empty()) o.input = ::isatty(STDIN_FILENO) ? formats::kDefaultProfile : "-";
  if (o.output.empty()) o.output = "-";
  auto format = o.to.empty() ? format_of_name(o.output) : parse_format(o.to);
  if (!format) return report_error(kCmd, format.error());
  if (o.annotate && *format != Format::folded) {
    return report_error(kCmd, Error{"--annotate marks frames in folded output only", 0,
                                    "  give --to folded, or an output named *.folded"});
  }

  auto in = formats::load_input(o.input, {.max_bytes = o.max_input_mib << 20});
  if (!in) return report_error(kCmd, in.error());
  for (const auto& note : in->notes) fmt::print(stderr, "perfscope {}: {}\n", kCmd, note);
  if (in->profile.sample_types.empty() || in->profile.samples().empty()) {
    return report_error(kCmd, Error{in->source + " holds no samples: there is nothing to convert",
                                    0, "  check that the recording or the export worked"});
  }
  // As report and flamegraph choose it: the input's default type unless --sample-type names one.
  auto value = profile::sample_type_index(in->profile, o.sample_type, in->source);
  if (!value) return report_error(kCmd, value.error());
  // pprof keeps every type; the one asked for becomes its default, which pprof tools show first.
  if (!o.sample_type.empty()) {
    in->profile.default_sample_type = in->profile.sample_types[*value].type;
  }
  // The whole output is made before the file is created: a failed conversion leaves no file.
  auto bytes = render(*format, in->profile, *value, o);
  if (!bytes) return report_error(kCmd, bytes.error());
  if (auto st = write_output_file(o.output, *bytes); !st) return report_error(kCmd, st.error());
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
                      std::string(formats::kDefaultProfile) + ")");
  sub->add_option("-o,--output", o->output,
                  "Where to write; the format follows the name: *.pb.gz pprof, *.folded folded "
                  "stacks, *.speedscope.json speedscope (- for stdout, with --to)");
  sub->add_option("--to", o->to, "The output format whatever the name: pprof, folded, speedscope");
  add_max_input(sub, o->max_input_mib);
  sub->add_option("--sample-type", o->sample_type,
                  "Write this sample type of the input (samples, cpu, alloc_space, ...) or its "
                  "0-based index: the counts of folded and speedscope output, the default type of "
                  "pprof output, which keeps them all (default: the input's default type, else "
                  "the last, as go tool pprof takes it)");
  sub->add_flag("--annotate", o->annotate,
                "In folded output, mark kernel frames _[k], JIT frames _[j] and inlined frames "
                "_[i], as FlameGraph's stackcollapse-perf.pl --all does");
  sub->footer(
      "Examples:\n"
      "  perfscope convert -i perfscope.pb.gz -o app.speedscope.json\n"
      "  perfscope convert -i app.speedscope.json -o app.folded\n"
      "  perf script | perfscope convert -o perf.pb.gz\n"
      "  perf script | perfscope convert --sample-type samples -o perf.folded\n"
      "  perfscope convert -i app.folded --to speedscope > app.json\n"
      "  perfscope convert -i perfscope.pb.gz --annotate -o app.folded");
  sub->callback([o, &exit_code] { exit_code = run_convert(*o); });
}

}  // namespace perfscope::cli
