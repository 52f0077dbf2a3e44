// The lines `perfscope record` prints when it has written a profile (to standard error).
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string_view>

#include "profile/stack_quality.hpp"
#include "recording/profile_builder.hpp"
#include "recording/recorder.hpp"

namespace perfscope::recording {
namespace {

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

// Samples per CPU, and how the total compares with what the frequency promises. An idle CPU may
// take no cpu-clock samples at all (seen on 6.x kernels in VMs, where perf record -a shows the
// same), so each CPU's idle share is given beside its count.
void sample_rate_lines(const RecordResult& r, std::vector<std::string>& out) {
  const RecordStats& s = r.stats;
  const double frequency = static_cast<double>(r.backend.frequency);
  std::vector<int> idle_cpus;
  for (int cpu : s.cpus) {
    auto it = s.samples_per_cpu.find(static_cast<std::uint32_t>(cpu));
    const std::uint64_t n = it == s.samples_per_cpu.end() ? 0 : it->second;
    auto t = s.cpu_times.find(cpu);
    if (s.system_wide && t != s.cpu_times.end() && t->second.total() > 0) {
      const double idle = t->second.idle_s / t->second.total();
      if (idle >= 0.5 && static_cast<double>(n) < 0.5 * frequency * s.elapsed_s) {
        idle_cpus.push_back(cpu);
      }
      out.push_back(fmt::format("CPU {}: {} samples (idle {:.0f}%)", cpu, n, 100.0 * idle));
    } else {
      out.push_back(fmt::format("CPU {}: {} samples", cpu, n));
    }
  }
  const double total = static_cast<double>(s.samples);
  if (s.time_based && s.system_wide && s.elapsed_s > 0) {
    const double expected = frequency * s.elapsed_s * static_cast<double>(s.cpus.size());
    out.push_back(fmt::format(
        "Sample rate: {:.1f}% of expected ({} Hz x {:.2f} s x {} CPUs = {:.0f} expected)",
        100.0 * total / expected, r.backend.frequency, s.elapsed_s, s.cpus.size(), expected));
    if (total < 0.9 * expected && !idle_cpus.empty()) {
      out.push_back(fmt::format(
          "Note: {} {} {} idle most of the time and took few samples: the kernel may skip "
          "cpu-clock samples on an idle CPU, so the rate is only meaningful for busy CPUs",
          idle_cpus.size() == 1 ? "CPU" : "CPUs", fmt::join(idle_cpus, ", "),
          idle_cpus.size() == 1 ? "was" : "were"));
    }
  } else if (s.time_based && !s.system_wide && s.command_cpu_s > 0) {
    const double expected = frequency * s.command_cpu_s;
    out.push_back(fmt::format(
        "Sample rate: {:.1f}% of expected ({} Hz x {:.2f} s of the command's CPU time = {:.0f} "
        "expected)",
        100.0 * total / expected, r.backend.frequency, s.command_cpu_s, expected));
  }
}

// The share of user stacks that are complete: from the unwinder's own count when it has one
// (it knows which walks reached the outermost frame, names or not), else from the profile's names
// (main, _start, __libc_start_main, a thread start; profile::user_stack_reach), as `report` does.
void complete_stacks_line(const RecordResult& r, std::vector<std::string>& out) {
  constexpr const char* kWhat =
      "User stacks complete (reach the program's entry or a thread start)";
  if (const auto& c = r.backend.complete_user_stacks; c && c->user_stacks > 0) {
    out.push_back(fmt::format(
        "{}: {:.1f}% ({} of {} user stacks; the unwinder reached the "
        "outermost frame)",
        kWhat, 100.0 * static_cast<double>(c->complete) / static_cast<double>(c->user_stacks),
        c->complete, c->user_stacks));
    return;
  }
  const profile::StackReach reach = profile::user_stack_reach(r.profile);
  if (reach.with_user_stack <= 0) return;
  out.push_back(fmt::format(
      "{}: {:.1f}% ({} of {} samples with a user stack)", kWhat,
      100.0 * static_cast<double>(reach.reaching_root) / static_cast<double>(reach.with_user_stack),
      reach.reaching_root, reach.with_user_stack));
}

// The modules whose frames are named by address (stripped) and that hold at least 1% of the
// samples, the most sampled first (at most 3), from the profile's comments (profile_builder's
// kUnnamedCommentPrefix; they say "..., in X% of samples; ...").
void symbol_lines(const profile::Profile& p, std::vector<std::string>& out) {
  constexpr std::size_t kShown = 3;
  std::size_t shown = 0, rest = 0;
  for (const profile::StringId c : p.comments) {
    const std::string_view text = p.string(c);
    if (!text.starts_with(kUnnamedCommentPrefix)) continue;
    const auto at = text.rfind(", in ");
    const double share = at == std::string_view::npos ? 100.0 : std::atof(text.data() + at + 5);
    if (shown < kShown && share >= 1.0) {
      ++shown;
      out.push_back(fmt::format("Symbols: {}", text.substr(kUnnamedCommentPrefix.size())));
    } else {
      ++rest;
    }
  }
  if (rest > 0) {
    out.push_back(fmt::format("Symbols: {}{} address-named frames (see perfscope report)",
                              shown > 0 ? "also " : "",
                              plural(rest, "module with", "modules with")));
  }
}

}  // namespace

std::vector<std::string> summarize(const RecordResult& r, const std::string& output,
                                   double total_cpu_s) {
  const RecordStats& s = r.stats;
  const BackendReport& b = r.backend;
  std::vector<std::string> out;
  if (r.stop_signal != 0) {
    out.push_back(fmt::format("Stopped by {} after {:.2f} s; the profile is complete up to then.",
                              strsignal(r.stop_signal), s.elapsed_s));
  }
  if (!b.time_lines.empty()) {  // --off-cpu, --wall: samples are on-CPU samples + intervals
    out.push_back(fmt::format(
        "Collected {} samples and off-CPU intervals in {:.2f} s ({}, {}{})", s.samples, s.elapsed_s,
        s.subject, b.event,
        b.frequency > 0 ? fmt::format(", on-CPU at {} Hz", b.frequency) : std::string()));
    out.insert(out.end(), b.time_lines.begin(), b.time_lines.end());
  } else {
    out.push_back(fmt::format(
        "Collected {} samples in {:.2f} s ({}, {} {}{})", s.samples, s.elapsed_s, s.subject,
        b.event,
        b.frequency > 0 ? fmt::format("at {} Hz", b.frequency) : std::string("by period (-c)"),
        b.user_only ? ", user space only" : ""));
    sample_rate_lines(r, out);
  }
  out.insert(out.end(), b.loss_lines.begin(), b.loss_lines.end());
  out.push_back(fmt::format("Call graph: {}", s.call_graph_line));
  out.insert(out.end(), b.unwind_lines.begin(), b.unwind_lines.end());
  if (!b.unwinding_line.empty()) out.push_back(b.unwinding_line);
  complete_stacks_line(r, out);
  symbol_lines(r.profile, out);
  if (s.no_idle) {
    out.push_back(fmt::format("Idle: {} of the idle task left out (--no-idle)",
                              plural(b.idle_skipped, "sample", "samples")));
  }
  if (s.bpf) {
    out.push_back(
        fmt::format("Backend: bpf (in-kernel aggregation; {} samples counted in the kernel)",
                    b.kernel_samples));
  } else if (s.backend_why.empty()) {
    out.push_back(fmt::format("Backend: {}", s.backend));
  } else {
    out.push_back(
        fmt::format("Backend: {}, as eBPF cannot run here: {}", s.backend, s.backend_why));
  }
  if (b.unreadable > 0) {
    out.push_back(fmt::format("Unreadable records: {} ({})", b.unreadable, b.unreadable_reason));
  }
  out.push_back(
      fmt::format("Wrote {} ({} stacks, {} addresses, {} unresolved; symbolized in {:.2f} s)",
                  output == "-" ? "profile to standard output" : output, s.stacks, s.addresses,
                  s.unresolved, s.symbolize_s));
  out.push_back(fmt::format(
      "perfscope CPU time: {:.3f} s while recording ({:.2f} ms per 1,000 samples), {:.3f} s in "
      "total",
      s.recording_cpu_s,
      s.samples > 0 ? s.recording_cpu_s * 1e6 / static_cast<double>(s.samples) : 0.0, total_cpu_s));
  return out;
}

}  // namespace perfscope::recording
