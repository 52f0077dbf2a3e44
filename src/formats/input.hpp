// load_input(): every profile perfscope reads, from a file or standard input, as a Profile. One
// function for `convert`, `flamegraph` and `report`, so each reads the same inputs the same way.
//
// The format is told by content (detect.hpp), after taking off a gzip layer if there is one, so
// any of them may be compressed: a pprof profile (gzipped or not), a speedscope JSON file, the text
// of `perf script`, folded stacks, or a perf.data file (through the installed PerfDataReader). Text
// is read a piece at a time and merged as it arrives: memory follows the number of distinct stacks,
// never the size of the input. A pprof profile or a speedscope file is decoded whole: at most
// InputOptions::max_bytes of it (after gzip) is read, so an endless or huge input (`-i /dev/zero`,
// a gzip bomb) is refused with an Error, not taken until memory runs out.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "formats/detect.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::formats {

// The file `perfscope record` writes unless told otherwise: what commands read by default.
inline constexpr const char* kDefaultProfile = "perfscope.pb.gz";

// 1 GiB: a pprof profile decodes to several times its size in memory.
inline constexpr std::size_t kDefaultMaxInputBytes = std::size_t{1} << 30;

struct InputOptions {
  // Only the samples that match. pprof and speedscope profiles are filtered by their labels
  // (speedscope has a "comm" only when it holds several profiles, and no pids: a pid filter is an
  // Error); perf script text by each sample's header while it is read; folded stacks by the root
  // frame, their comm by convention (a pid filter is an Error).
  profile::SampleFilter filter = {};
  // The most bytes of a pprof profile or speedscope file that are read (after gzip).
  std::size_t max_bytes = kDefaultMaxInputBytes;
};

struct LoadedInput {
  // Sample types as the input has them: folded stacks count {"samples", "count"}; perf script text
  // has {"samples", "count"} and its periods (the default: see PerfScriptReader). perf script's
  // COMM becomes each sample's "comm" label, as in perfscope's own profiles; folded stacks keep
  // every frame (the root one too) as a frame. pprof samples with the same stack and labels are
  // merged.
  profile::Profile profile;
  Format format = Format::pprof;
  std::string source;              // how messages name the input: the path, or "standard input"
  std::vector<std::string> notes;  // what a person should know about how it was read
};

// Reads `path` ("-": standard input). Errors name the input and the fix: a file that cannot be
// opened, one whose format cannot be told (or is empty), a malformed one (where, and what is
// wrong).
Result<LoadedInput> load_input(const std::string& path, const InputOptions& options = {});

// perf.data is decoded above formats/ (perfdata/: sampling/'s decoder, unwind/, symbols/), which
// formats/ does not link so that it stays free of kernel-facing layers. The program that links
// perfdata/ installs its reader once, before reading inputs (cli/main.cpp); without one, a
// perf.data input is an Error that says so. `bytes` is the whole file (at most max_bytes); the
// reader returns the profile and adds its notes.
using PerfDataReader = Result<profile::Profile> (*)(std::string_view bytes,
                                                    const std::string& source,
                                                    std::vector<std::string>& notes);
void set_perf_data_reader(PerfDataReader reader);

// "standard input" for "-", else the path: how messages name an input.
std::string input_name(const std::string& path);

}  // namespace perfscope::formats
