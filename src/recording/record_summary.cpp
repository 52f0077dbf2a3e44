// The lines `perfscope record` prints when it has written a profile (to standard error).
#include <fmt/format.h>

#include <cctype>
#include <cstring>

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
  out.push_back(fmt::format("Collected {} samples in {:.2f} s ({}, {} at {} Hz{})", s.samples,
                            s.elapsed_s, s.subject, b.event, b.frequency,
                            b.user_only ? ", user space only" : ""));
  sample_rate_lines(r, out);
  out.insert(out.end(), b.loss_lines.begin(), b.loss_lines.end());
  out.push_back(fmt::format("Call graph: {}", s.call_graph_line));
  out.insert(out.end(), b.unwind_lines.begin(), b.unwind_lines.end());
  if (!b.unwinding_line.empty()) out.push_back(b.unwinding_line);
  if (!s.reach_line.empty()) {
    std::string line = s.reach_line;
    line[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(line[0])));
    out.push_back(line);
  }
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
