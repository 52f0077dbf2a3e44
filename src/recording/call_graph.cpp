#include "recording/call_graph.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "system/binary_check.hpp"

namespace perfscope::recording {

Result<CallGraph> parse_call_graph(const std::string& text) {
  CallGraph g;
  const auto comma = text.find(',');
  const std::string mode = text.substr(0, comma);
  if (mode == "fp") {
    g.mode = CallGraphMode::fp;
  } else if (mode == "dwarf") {
    g.mode = CallGraphMode::dwarf;
  } else if (mode == "cfi") {
    g.mode = CallGraphMode::cfi;
  } else if (mode == "none") {
    g.mode = CallGraphMode::none;
  } else if (mode == "auto") {
    g.mode = CallGraphMode::automatic;
  } else {
    return Error{fmt::format("unknown call-graph mode '{}'", mode), 0,
                 "  use --call-graph auto (the default), fp (frame pointers), dwarf[,BYTES] "
                 "(copy user stacks and unwind them with DWARF CFI), cfi (walk .eh_frame "
                 "tables in the kernel, eBPF backend) or none"};
  }
  if (comma == std::string::npos) return g;
  const std::string size = text.substr(comma + 1);
  if (g.mode != CallGraphMode::dwarf) {
    return Error{fmt::format("--call-graph {} takes no size", mode), 0,
                 "  only dwarf copies stacks: --call-graph dwarf,32768"};
  }
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(size.c_str(), &end, 10);
  if (size.empty() || *end != '\0' || errno != 0 || n < 8 || n > kMaxStackCopy) {
    return Error{fmt::format("bad stack copy size '{}'", size), 0,
                 fmt::format("  give bytes from 8 to {} (the kernel's limit), e.g. --call-graph "
                             "dwarf,32768",
                             kMaxStackCopy)};
  }
  g.stack_bytes = static_cast<std::uint32_t>((n + 7) / 8 * 8);
  return g;
}

const char* call_graph_name(CallGraphMode mode) {
  switch (mode) {
    case CallGraphMode::fp:
      return "fp";
    case CallGraphMode::dwarf:
      return "dwarf";
    case CallGraphMode::cfi:
      return "cfi";
    case CallGraphMode::none:
      return "none";
    case CallGraphMode::automatic:
      return "auto";
  }
  return "";
}

void resolve_call_graph(CallGraph& graph, const std::string& program, const std::string& shown,
                        bool bpf_backend) {
  if (graph.mode != CallGraphMode::automatic) return;
  if (bpf_backend) {
    graph.mode = CallGraphMode::cfi;
    graph.why =
        "auto: the eBPF backend walks .eh_frame unwind tables in the kernel (frame pointers where "
        "a module has none)";
    return;
  }
  graph.mode = CallGraphMode::fp;
  if (program.empty()) {
    graph.why = "auto: frame pointers system-wide (--call-graph dwarf to unwind every process)";
    return;
  }
  const auto judged = system::judge_frame_pointers(program, shown);
  if (!judged.inspected) {
    graph.why = fmt::format("auto: frame pointers ({})", judged.why);
    return;
  }
  if (!judged.keeps_frame_pointers) graph.mode = CallGraphMode::dwarf;
  graph.why = "auto: " + judged.why;
}

std::vector<std::string> unwind_summary(const unwind::UnwindStats& u) {
  std::vector<std::string> lines;
  if (u.samples == 0) return lines;
  const auto pct = [&](std::uint64_t n) {
    return 100.0 * static_cast<double>(n) / static_cast<double>(u.samples);
  };
  const std::uint64_t complete = u.count(unwind::StopReason::outermost);
  lines.push_back(fmt::format(
      "DWARF unwinding: {} of {} user stacks ({:.1f}%) reached the outermost frame, {:.1f} "
      "frames each on average",
      complete, u.samples, pct(complete),
      static_cast<double>(u.frames) / static_cast<double>(u.samples)));
  for (int r = 1; r < unwind::kStopReasonCount; ++r) {
    const auto reason = static_cast<unwind::StopReason>(r);
    const std::uint64_t n = u.count(reason);
    if (n == 0) continue;
    std::string detail;
    if (reason == unwind::StopReason::stack_too_small) {
      detail =
          u.stack_bytes_requested < kMaxStackCopy
              ? fmt::format(" ({} bytes copied; raise it: --call-graph dwarf,{})",
                            u.stack_bytes_requested,
                            std::min<std::uint64_t>(u.stack_bytes_requested * 4, kMaxStackCopy))
              : fmt::format(" ({} bytes copied, the kernel's limit)", u.stack_bytes_requested);
    } else if (reason == unwind::StopReason::no_unwind_info) {
      std::vector<std::pair<std::uint64_t, std::string>> worst;
      for (const auto& [module, count] : u.no_unwind_info_modules)
        worst.emplace_back(count, module);
      std::sort(worst.rbegin(), worst.rend());
      std::vector<std::string> names;
      for (std::size_t i = 0; i < worst.size() && i < 3; ++i) {
        names.push_back(fmt::format("{} {}", worst[i].second, worst[i].first));
      }
      detail = fmt::format(" (in {}{})", fmt::join(names, ", "), worst.size() > 3 ? ", ..." : "");
    }
    lines.push_back(
        fmt::format("  cut short: {} ({:.1f}%) {}{}", n, pct(n), unwind::describe(reason), detail));
  }
  return lines;
}

}  // namespace perfscope::recording
