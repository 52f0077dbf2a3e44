// Writing speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json); the
// reader is formats/speedscope_reader.hpp.
//
// One "sampled" profile. shared.frames holds one frame per function {name, file, line} (file: the
// mapping's name for kernel and JIT code, "[kernel.kallsyms]", else the function's source file;
// line: where the function starts), sorted by name, file and line. Each distinct stack is one
// sample, frame indexes root first, with the comm label as the root frame (as folded stacks have
// it); samples are sorted, so the output depends on the stacks and counts only. A sample with a
// "state" label (record --off-cpu/--wall) ends in a frame naming it ("[on-cpu]", "[sleeping]",
// "[blocked]", "[runnable]", file "[state]"): one profile keeps a thread's whole life, and
// speedscope's sandwich view of "[blocked]" lists every caller of blocked time. Inlined functions
// are frames of their own. Weights are one sample value: "count" becomes unit "none", and
// nanoseconds, microseconds, milliseconds, seconds and bytes keep their unit.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::output {

inline constexpr std::string_view kSpeedscopeSchema =
    "https://www.speedscope.app/file-format-schema.json";

struct SpeedscopeOptions {
  std::string name = "perfscope";  // the file's and its profile's name, shown by speedscope
  bool include_comm = true;        // the "comm" label as the root frame (when a sample has one)
  std::size_t value_index = 0;     // which Sample::values entry gives the weights
  profile::SampleFilter filter = {};
};

// The profile as a speedscope file. Errors for a value_index outside the sample types or for
// negative sums (speedscope draws positive weights only).
Result<std::string> speedscope_json(const profile::Profile& p, const SpeedscopeOptions& o = {});

// A frame "file" that names where code was mapped rather than its source: the kernel and its
// modules ("[kernel.kallsyms]", "[nf_tables]"), JIT code ("[jit] ...", "/tmp/perf-123.map"). The
// writer puts kernel and JIT frames there; the reader puts such frames back in that mapping.
bool speedscope_file_names_a_mapping(std::string_view file);

}  // namespace perfscope::output
