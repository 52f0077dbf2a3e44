#include "formats/input.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <utility>

#include "formats/folded_reader.hpp"
#include "formats/input_stream.hpp"
#include "formats/line_splitter.hpp"
#include "formats/perf_script.hpp"
#include "formats/speedscope_reader.hpp"
#include "formats/stack_profile.hpp"
#include "output/stack_tree.hpp"

namespace perfscope::formats {
namespace {

// What is read before the format is told: plenty for any format's first line but folded stacks
// with very deep stacks, for which the head grows to the line's end (LineSplitter::kMaxLine).
constexpr std::size_t kHeadBytes = 1u << 16;
// Text formats are read and merged this much at a time.
constexpr std::size_t kChunk = 1u << 20;

constexpr const char* kFormatsHint =
    "  perfscope reads pprof profiles (gzipped or not), folded stacks ('main;parse;memcpy 42'),\n"
    "  the text output of `perf script`, speedscope JSON files and perf.data files, each of them\n"
    "  gzipped or not";

PerfDataReader perf_data_reader = nullptr;

Result<std::string> read_head(InputStream& in) {
  std::string head;
  if (auto st = in.read_up_to(head, kHeadBytes); !st) return st.error();
  while (head.size() >= kHeadBytes && head.size() <= LineSplitter::kMaxLine &&
         !head_decides(head)) {
    auto n = in.read(head, kChunk);
    if (!n) return n.error();
    if (*n == 0) break;
  }
  return head;
}

Error undetected(const std::string& name, std::string_view head) {
  if (head.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Error{name + " is empty", 0, kFormatsHint};
  }
  return Error{"cannot tell what " + name + " holds", 0, kFormatsHint};
}

// The whole input, `head` first, for the formats decoded in one piece.
Result<std::string> read_whole(InputStream& in, std::string head, Format format,
                               const std::string& name, std::size_t max_bytes) {
  std::string bytes = std::move(head);
  if (const std::size_t size = in.size_hint(); size > 0 && size <= max_bytes) {
    bytes.reserve(size + kChunk + 1);  // the last read asks for a whole chunk
  }
  while (bytes.size() <= max_bytes) {
    auto n = in.read(bytes, std::min(kChunk, max_bytes + 1 - bytes.size()));
    if (!n) return n.error();
    if (*n == 0) return bytes;
  }
  const std::string limit = max_bytes >= (1u << 20) && max_bytes % (1u << 20) == 0
                                ? fmt::format("{} MiB", max_bytes >> 20)
                                : fmt::format("{} bytes", max_bytes);
  return Error{fmt::format("{} is larger than {}, more than perfscope reads of a {}", name, limit,
                           format_name(format)),
               EFBIG,
               "  is it the file you meant? a profile that large would not fit in memory once "
               "decoded"};
}

// Streams the rest of the input through `reader` (FoldedReader or PerfScriptReader), head first.
template <typename Reader>
Status read_lines(InputStream& in, std::string head, Reader& reader) {
  LineSplitter lines;
  auto on_line = [&](std::string_view l) { return reader.add_line(l); };
  std::string buf = std::move(head);
  while (true) {
    if (auto st = lines.feed(buf, on_line); !st) return st;
    buf.clear();
    auto n = in.read(buf, kChunk);
    if (!n) return n.error();
    if (*n == 0) break;
  }
  return lines.finish(on_line);
}

// Filters a format cannot apply, refused rather than ignored.
Status check_filter(const LoadedInput& in, const profile::SampleFilter& filter) {
  if (filter.pids.empty()) return {};
  if (in.format == Format::folded) {
    return Error{in.source + " holds folded stacks, which carry no process ids", 0,
                 "  --pid needs a perfscope profile or perf script output; --comm matches the "
                 "root frame of folded stacks"};
  }
  if (in.format == Format::speedscope) {
    return Error{in.source + " is a speedscope file, which carries no process ids", 0,
                 "  --pid needs a perfscope profile or perf script output; --comm matches the "
                 "profile names of a speedscope file with several profiles"};
  }
  return {};
}

Status load_text(InputStream& in, std::string head, const InputOptions& o, LoadedInput& out) {
  output::StackTree tree;
  if (out.format == Format::folded) {
    FoldedReader reader(tree, out.source, {.comm = o.filter.comm});
    if (auto st = read_lines(in, std::move(head), reader); !st) return st;
    out.profile = profile_from_tree(tree);
    return {};
  }
  // Each sample weighs its PERIOD, as perf report counts it; the sample counts stay beside.
  PerfScriptReader reader(tree, out.source,
                          {.weight_by_period = true, .pids = o.filter.pids, .comm = o.filter.comm});
  if (auto st = read_lines(in, std::move(head), reader); !st) return st;
  if (auto st = reader.finish(); !st) return st;
  if (reader.callchains() == 0) {
    out.notes.push_back(out.source +
                        ": the perf script output has no callchains, so each sample is its "
                        "leaf frame only (record with `perf record -g` for whole stacks)");
  }
  for (auto& note : reader.notes()) out.notes.push_back(std::move(note));
  out.profile = profile_from_tree(tree, reader.profile_options());
  return {};
}

Status load_whole(InputStream& in, std::string head, const InputOptions& o, LoadedInput& out) {
  if (out.format == Format::perf_data && perf_data_reader == nullptr) {
    return Error{out.source + " is a perf.data file, which this program cannot read", 0,
                 "  `perfscope report|flamegraph|convert -i FILE` reads it"};
  }
  // A perf.data file is read where it lies when it can be mapped: no copy of it is made.
  MappedRegion mapped;
  if (out.format == Format::perf_data && in.size_hint() <= o.max_bytes) mapped = in.map_whole();
  Result<std::string> bytes = std::string();
  if (!mapped.valid()) bytes = read_whole(in, std::move(head), out.format, out.source, o.max_bytes);
  if (!bytes) return bytes.error();
  const std::string_view view =
      mapped.valid() ? std::string_view(static_cast<const char*>(mapped.data()), mapped.size())
                     : std::string_view(*bytes);
  auto p = out.format == Format::perf_data ? perf_data_reader(view, out.source, out.notes)
           : out.format == Format::pprof
               ? profile::decode_pprof(view, out.source, {.merge_samples = true})
               : parse_speedscope(view, out.source);
  if (!p) return p.error();
  out.profile = std::move(*p);
  if (!o.filter.empty()) out.profile.retain_samples(profile::SampleMatcher(out.profile, o.filter));
  return {};
}

}  // namespace

void set_perf_data_reader(PerfDataReader reader) {
  perf_data_reader = reader;
}

std::string input_name(const std::string& path) {
  return path == "-" ? std::string("standard input") : path;
}

Result<LoadedInput> load_input(const std::string& path, const InputOptions& options) {
  LoadedInput out;
  out.source = input_name(path);
  auto in = InputStream::open(path, out.source);
  if (!in) {
    Error e = in.error();
    if (e.errnum == ENOENT) {
      e.hint = path == kDefaultProfile
                   ? "  record one with `perfscope record -- ./program` (it writes "
                     "perfscope.pb.gz), or name another input with -i FILE"
                   : "  check the name; `perfscope record -o FILE` writes a profile there";
    }
    return e;
  }
  auto head = read_head(*in);
  if (!head) return head.error();
  const auto format = detect_format(*head);
  if (!format) return undetected(out.source, *head);
  out.format = *format;
  if (auto st = check_filter(out, options.filter); !st) return st.error();
  const bool text = out.format == Format::folded || out.format == Format::perf_script;
  Status st = text ? load_text(*in, std::move(*head), options, out)
                   : load_whole(*in, std::move(*head), options, out);
  if (!st) return st.error();
  return out;
}

}  // namespace perfscope::formats
