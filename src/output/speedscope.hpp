// speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json), both ways,
// and the way stacks of named frames (folded stacks, perf script, speedscope) become a Profile.
//
// Written: one "sampled" profile. shared.frames holds one frame per function {name, file, line}
// (file: the mapping's name for kernel and JIT code, "[kernel.kallsyms]", else the function's
// source file; line: where the function starts), sorted by name, file and line. Each
// distinct stack is one sample, frame indexes root first, with the comm label as the root frame
// (as folded stacks have it); samples are sorted, so the output depends on the stacks and counts
// only. Inlined functions are frames of their own. Weights are one sample value: "count" becomes
// unit "none", and nanoseconds, microseconds, milliseconds, seconds and bytes keep their unit.
//
// Read: "sampled" and "evented" profiles. A file with several profiles (one per thread, as py-spy
// writes them) gets each profile's name as the "comm" label of its samples, so they stay apart.
// Weights in "none" give sample type {"samples", "count"}, time units {"time", "nanoseconds"}
// (converted), "bytes" {"space", "bytes"}; every profile of a file must share the unit. A frame
// whose file names a mapping rather than a source file ("[kernel.kallsyms]", "[jit] ...",
// "perf-PID.map") is put in that mapping, so kernel frames stay kernel frames through a round trip.
//
// Parsing never recurses on the input's nesting and checks every index, length and number, so a
// damaged or hostile file gives an Error naming the place ("app.json:3:17: ..."), never a crash.
//
// What a round trip (Profile -> speedscope -> Profile) keeps: every stack and its count, function
// names, source files and start lines, kernel and JIT frames. What it drops: labels (the comm
// comes back as the root frame it was written as), addresses, mappings of user code, inline
// grouping (inlined functions come back as frames of their own), and the other sample values.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "output/stack_tree.hpp"
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

// The first character that is not white space (or a UTF-8 byte-order mark) is '{': the input is
// meant as JSON, which no other input format perfscope reads can be.
bool looks_like_json(std::string_view head);

// A speedscope file as a Profile. `source` names the input in errors.
Result<profile::Profile> parse_speedscope(std::string_view text,
                                          const std::string& source = "speedscope file");

// A tree's stacks as a Profile with one sample type {"samples", "count"}: one sample per node with
// self samples, one function per frame name, kernel frames in a "[kernel.kallsyms]" mapping, JIT
// frames in "[jit] compiled code", and inlined frames in the location of the frame they were
// inlined into. tree_from_profile() of the result gives the same tree back.
profile::Profile profile_from_tree(const StackTree& tree);

}  // namespace perfscope::output
