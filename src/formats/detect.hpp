// Which format an input is in, told from its first bytes: the one detection behind every command
// that reads a profile (load_input() in input.hpp uses it).
#pragma once

#include <optional>
#include <string_view>

namespace perfscope::formats {

enum class Format { pprof, speedscope, perf_script, folded, perf_data };

// "pprof profile", "speedscope file", "perf script text", "folded stacks", "perf.data file".
std::string_view format_name(Format format);

// What `head`, the first bytes of an input (after any gzip layer), holds:
//   JSON (the first character that is not white space or a byte-order mark is '{'): speedscope;
//   perf.data (`perf record`'s file or pipe stream): its magic, "PERFILE2" (or a big-endian or
//   first-version perf.data magic, which its reader refuses with the reason);
//   binary (control bytes other than tab, CR, LF): pprof, when its first fields are a Profile's;
//   text: decided by the first line that is not blank or a '#' comment: a `perf script` sample
//   header, or a folded line (frames, a space, a whole number; not indented).
// nullopt for an empty input or one that is none of these.
std::optional<Format> detect_format(std::string_view head);

// `head` holds all detect_format() looks at: it is JSON or binary, or the line that decides ends
// in it. A reader extends a head that does not (a folded stack may be longer than any fixed head).
bool head_decides(std::string_view head);

}  // namespace perfscope::formats
