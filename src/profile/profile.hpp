// Profile: a sampled profile in the shape of pprof's profile.proto, and its file format.
//
// Everything is interned: a sample is a list of location ids (leaf first), a location lists the
// functions at one address (inline chain), functions and mappings refer to strings by StringId.
// All ids but StringId are 1-based (0 means "none"), so the vectors are indexed by id - 1.
// A Profile is a plain value: copyable, movable, not thread-safe to mutate.
//
// Conventions perfscope's recorder follows, and report / output rely on:
//   sample_types   [{"samples", "count"}, {"cpu", "nanoseconds"}], default_sample_type
//                  "samples" (a profile without a default is counted in its last type, as Go's
//                  pprof does: see sample_type_index() in query.hpp)
//   period_type    {"cpu", "nanoseconds"}, period: nanoseconds of CPU time per sample
//   labels         num labels "pid", "tid", "cpu", each with its key as num_unit (Go's pprof
//                  drops a num label whose value and unit are both 0: pid 0, cpu 0); str label
//                  "comm" (the thread's command name). Readers take a num label's value whatever
//                  its unit, so older files without units read the same
//   mappings       kernel frames live in a mapping named "[kernel.kallsyms]" spanning the kernel
//                  text (_stext to _etext in kallsyms), or "[module]" for a kernel module (its
//                  extent in /proc/modules); user frames in one per mapped file (/proc/PID/maps)
//   functions      name is demangled; system_name may hold the mangled name; start_line is the
//                  function's DW_AT_decl_line when DWARF has it. A frame that could not be
//                  resolved still gets a function, named for the reason:
//                  "[unknown: no symbols in libfoo.so]""
//   comments       free text, one line each; "perfscope: lost N samples" counts samples the kernel
//                  dropped (see lost_samples() in query.hpp)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "profile/id_index.hpp"

namespace perfscope::profile {

using StringId = std::uint32_t;  // index into the string table; 0 is always ""

struct Function {
  StringId name = 0, system_name = 0, filename = 0;
  std::int64_t start_line = 0;
};

struct Line {
  std::uint64_t function_id = 0;  // 1-based
  std::int64_t line = 0;          // 0: unknown
  std::int64_t column = 0;        // 0: unknown
};

// A mapped file (or the kernel) in the sampled address space. has_* say which symbol information
// the locations in it carry (pprof uses them to decide whether to symbolize again).
struct Mapping {
  std::uint64_t start = 0, limit = 0, offset = 0;  // [start, limit) in memory; offset in the file
  StringId filename = 0, build_id = 0;             // build_id: lowercase hex
  bool has_functions = false, has_filenames = false, has_line_numbers = false,
       has_inline_frames = false;
};

// lines[0] is the innermost (inlined) function, the last line the out-of-line function (pprof
// order). No lines: the address could not be symbolized.
struct Location {
  std::uint64_t mapping_id = 0;  // 0: no mapping known
  std::uint64_t address = 0;
  std::vector<Line> lines = {};
  bool is_folded = false;  // pprof: this address stands for several merged ones
};

// A str label (str != 0) or a num label (num, optionally num_unit).
struct Label {
  StringId key = 0;
  StringId str = 0;
  std::int64_t num = 0;
  StringId num_unit = 0;
};

struct Sample {
  std::vector<std::uint64_t> location_ids = {};  // leaf first
  std::vector<std::int64_t> values = {};         // one per Profile::sample_types
  std::vector<Label> labels = {};
};

struct ValueType {
  StringId type = 0, unit = 0;
};

class Profile {
 public:
  Profile();

  // Deduplicated: the same text always gives the same id.
  StringId intern(std::string_view s);
  // The id of `s` if it is in the table, or -1; never adds.
  std::int64_t find_string(std::string_view s) const;
  // "" for an id outside the table.
  std::string_view string(StringId id) const;

  // Deduplicated by all four fields; returns the 1-based id. The names may be views of this
  // profile's own strings (string(id)).
  std::uint64_t add_function(std::string_view name, std::string_view system_name,
                             std::string_view filename, std::int64_t start_line = 0);
  std::uint64_t add_mapping(const Mapping& m);  // 1-based id; not deduplicated
  std::uint64_t add_location(Location l);       // 1-based id; the caller deduplicates
  void add_sample(Sample s);
  void add_comment(std::string_view text) { comments.push_back(intern(text)); }

  const std::vector<std::string>& strings() const { return strings_; }
  const std::vector<Function>& functions() const { return functions_; }
  const std::vector<Mapping>& mappings() const { return mappings_; }
  const std::vector<Location>& locations() const { return locations_; }
  const std::vector<Sample>& samples() const { return samples_; }
  // By 1-based id; the id must exist.
  const Function& function(std::uint64_t id) const { return functions_[id - 1]; }
  const Mapping& mapping(std::uint64_t id) const { return mappings_[id - 1]; }
  const Location& location(std::uint64_t id) const { return locations_[id - 1]; }

  void reserve_samples(std::size_t n) { samples_.reserve(n); }
  // Keeps the samples keep(sample) is true for, in their order; what they refer to stays.
  template <typename Keep>
  void retain_samples(Keep&& keep) {
    std::erase_if(samples_, [&](const Sample& s) { return !keep(s); });
  }

  std::vector<ValueType> sample_types;  // what each Sample::values entry measures
  ValueType period_type;
  std::int64_t period = 0;          // in period_type's unit
  std::int64_t time_nanos = 0;      // start, ns since the Unix epoch; 0: unknown
  std::int64_t duration_nanos = 0;  // 0: unknown
  std::vector<StringId> comments;
  StringId default_sample_type = 0;  // 0: none named (readers then take the last type, as Go)

 private:
  std::vector<std::string> strings_;
  std::vector<Function> functions_;
  std::vector<Mapping> mappings_;
  std::vector<Location> locations_;
  std::vector<Sample> samples_;
  IdIndex string_index_;    // text -> StringId
  IdIndex function_index_;  // (name, system_name, filename, start_line) -> id - 1
};

// Ok when every id in the profile refers to something that exists and every sample has one value
// per sample type; otherwise an Error naming the first broken reference.
Status validate(const Profile& p);

// The profile as an uncompressed profile.proto message. Validates first.
Result<std::string> encode_pprof(const Profile& p);
// The bytes of a pprof file: encode_pprof(), gzipped (what write_pprof writes).
Result<std::string> encode_pprof_gzipped(const Profile& p);

struct ReadOptions {
  // Samples with the same locations and labels become one, their values summed (what pprof calls
  // compacting). Every query and rendering gives the same result; a profile written one sample per
  // event takes a fraction of the memory and time. Off: samples are kept one for one.
  bool merge_samples = false;
};

// The start of an uncompressed profile.proto message: the top-level fields in `head` are those of
// a Profile, with their wire types, as far as `head` goes (a field may run on past its end). A
// cheap test for telling inputs apart, not a check: decode_pprof() is that.
bool looks_like_pprof(std::string_view head);

// Parses a profile.proto message, gzip-compressed or not. `source` names it in errors.
Result<Profile> decode_pprof(std::string_view bytes, const std::string& source = "profile",
                             const ReadOptions& options = {});

// Writes the profile gzip-compressed. A regular file is written to a temporary file in the same
// directory and renamed into place, so `path` is never left half-written; "-" is standard output.
Status write_pprof(const Profile& p, const std::string& path);
// Reads a profile written by write_pprof, pprof or any other producer of profile.proto, gzipped or
// plain; "-" is standard input. Ids are renumbered 1..n and duplicate strings merged, so ids read
// back may differ from the file's while everything they refer to is the same.
Result<Profile> read_pprof(const std::string& path, const ReadOptions& options = {});

}  // namespace perfscope::profile
