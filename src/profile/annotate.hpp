// What `perfscope report --annotate FUNC` shows: the samples that ran in one function (its code
// is the leaf's out-of-line function, inlined callees included, as perf annotate counts them),
// counted per source line and per instruction address.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

namespace perfscope::profile {

struct AnnotatedLine {
  std::string file = {};  // as the profile stores it
  std::int64_t line = 0;
  std::int64_t weight = 0;
  std::string text = {};  // the source line, when the file could be read ("" otherwise)
};

// One sampled instruction: its address in the mapped file, and what disassembled it.
struct AnnotatedInstruction {
  std::uint64_t file_offset = 0;
  std::int64_t weight = 0;
  std::string text = {};      // "mov rax, qword ptr [rbx]"; "" until disassembled
  std::uint64_t address = 0;  // ELF virtual address, when disassembled
};

struct Annotation {
  std::string function = {};     // its name
  std::string module_path = {};  // the mapped file of its code ("" when unknown)
  std::string build_id = {};
  std::int64_t total = 0;   // weight of the samples in it: the 100% of its lines
  bool has_lines = false;   // some sample has a source file and line
  bool has_source = false;  // and the source file could be read
  // Source lines in file order (each file's lines ascending): every sampled line, with the lines
  // between them when the file was read (weight 0), at most 400.
  std::vector<AnnotatedLine> lines = {};
  // Sampled instructions, ascending; empty when the profile has no addresses for them.
  std::vector<AnnotatedInstruction> instructions = {};
};

// The function whose name is `name` exactly, else the one function whose name the ECMAScript
// regex `name` searches. Errors: no such function among the matching samples' leaves, several
// (listed), a bad regex, a value_index outside the sample types.
Result<Annotation> annotate(const Profile& p, const std::string& name, std::size_t value_index,
                            const SampleFilter& filter = {});

}  // namespace perfscope::profile
