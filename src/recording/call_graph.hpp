// How user stacks are captured (--call-graph), and the one place that decides it for `auto`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "unwind/dwarf_unwinder.hpp"

namespace perfscope::recording {

// cfi: the eBPF backend walks user stacks in the kernel with unwind tables compiled from each
// module's .eh_frame (frame pointers where a module has none).
enum class CallGraphMode { automatic, fp, dwarf, cfi, none };

struct CallGraph {
  CallGraphMode mode = CallGraphMode::automatic;
  std::uint32_t stack_bytes = 16384;  // DWARF: user stack bytes copied per sample
  std::string why;                    // for auto: what decided it
};

// The kernel copies at most 65528 bytes of user stack per sample (a u16, rounded down to 8).
constexpr std::uint32_t kMaxStackCopy = 65528;

// --call-graph auto|fp|dwarf[,BYTES]|cfi|none.
Result<CallGraph> parse_call_graph(const std::string& text);
const char* call_graph_name(CallGraphMode mode);

// --call-graph auto, decided: cfi when the eBPF backend can run (`bpf_backend`): it needs no
// frame pointers and costs little. Otherwise frame pointers system-wide, and for one program
// (`program`: a path, a name on PATH or /proc/PID/exe; `shown` names it) DWARF when
// system::judge_frame_pointers finds it lacks them. Other modes pass.
void resolve_call_graph(CallGraph& graph, const std::string& program, const std::string& shown,
                        bool bpf_backend);

// "DWARF unwinding: 2987 of 3000 user stacks (99.6%) reached the outermost frame, ..." then one
// line per reason a walk was cut short. Shared by the terminal summary and the profile comments.
std::vector<std::string> unwind_summary(const unwind::UnwindStats& stats);

}  // namespace perfscope::recording
