// How frames, modules and processes are named in reports and folded stacks. Names come back
// printable on one line: control characters (a newline in a symbol would split a report line)
// become spaces.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "profile/profile.hpp"

namespace perfscope::profile {

// The demangled name, else the system (mangled) name, else "[unknown]".
std::string function_name(const Profile& p, const Function& f);
// A location without symbol information: "libfoo.so+0x1a2b" (the offset in the file, what
// addr2line wants), or "0x7f00…" without a mapping, or "[unknown]" without an address.
std::string unsymbolized_name(const Profile& p, const Location& l);
// The basename of the mapping's file ("libc.so.6", "[kernel.kallsyms]"); "[unknown]" for
// mapping id 0 or a mapping without a name.
std::string module_name(const Profile& p, std::uint64_t mapping_id);
// The kernel or one of its modules: "[kernel.kallsyms]" or "[name]", but not the bracketed user
// space areas ([vdso], [vvar], [stack], [heap], [anon:…], [jit], …).
bool is_kernel_mapping(const Profile& p, std::uint64_t mapping_id);
// The same test on a mapping's file name, as perf and /proc/PID/maps print it.
bool is_kernel_mapping_name(std::string_view file);
// Code a JIT compiler wrote: "[jit] ..." (perfscope's name for it), a perf map
// ("/tmp/perf-123.map") or a jitdump image ("jitted-123-4.so").
bool is_jit_mapping_name(std::string_view file);

std::string_view basename(std::string_view path);
// `s` with control characters replaced by spaces.
std::string printable(std::string_view s);

}  // namespace perfscope::profile
