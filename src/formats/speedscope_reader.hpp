// Reading speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json); the
// writer is output/speedscope.hpp.
//
// "sampled" and "evented" profiles. A file with several profiles (one per thread, as py-spy writes
// them) gets each profile's name as the "comm" label of its samples, so they stay apart. Weights
// in "none" give sample type {"samples", "count"}, time units {"time", "nanoseconds"} (converted),
// "bytes" {"space", "bytes"}; every profile of a file must share the unit. A frame whose file names
// a mapping rather than a source file ("[kernel.kallsyms]", "[jit] ...", "perf-PID.map") is put in
// that mapping, so kernel frames stay kernel frames through a round trip.
//
// Parsing never recurses on the input's nesting and checks every index, length and number, so a
// damaged or hostile file gives an Error naming the place ("app.json:3:17: ..."), never a crash.
//
// What a round trip (Profile -> speedscope -> Profile) keeps: every stack and its count, function
// names, source files and start lines, kernel and JIT frames. What it drops: labels (the comm
// comes back as the root frame it was written as), addresses, mappings of user code, inline
// grouping (inlined functions come back as frames of their own), and the other sample values.
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "profile/profile.hpp"

namespace perfscope::formats {

// A speedscope file as a Profile. `source` names the input in errors.
Result<profile::Profile> parse_speedscope(std::string_view text,
                                          const std::string& source = "speedscope file");

}  // namespace perfscope::formats
