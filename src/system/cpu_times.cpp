#include "system/cpu_times.hpp"

#include <unistd.h>

#include <charconv>
#include <vector>

#include "core/files.hpp"

namespace perfscope::system {

std::map<int, CpuTimes> parse_cpu_times(std::string_view text) {
  std::map<int, CpuTimes> out;
  const double tick = 1.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  while (!text.empty()) {
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    if (line.size() < 4 || line.substr(0, 3) != "cpu" || line[3] < '0' || line[3] > '9') continue;
    int cpu = -1;
    const char* p = line.data() + 3;
    const char* end = line.data() + line.size();
    auto [next, ec] = std::from_chars(p, end, cpu);
    if (ec != std::errc{}) continue;
    // user nice system idle iowait irq softirq steal [guest guest_nice]
    std::vector<unsigned long long> f;
    p = next;
    while (p < end && f.size() < 8) {
      while (p < end && *p == ' ') ++p;
      unsigned long long v = 0;
      auto r = std::from_chars(p, end, v);
      if (r.ec != std::errc{}) break;
      f.push_back(v);
      p = r.ptr;
    }
    if (f.size() < 4) continue;
    f.resize(8, 0);
    CpuTimes t;
    t.busy_s = static_cast<double>(f[0] + f[1] + f[2] + f[5] + f[6]) * tick;
    t.idle_s = static_cast<double>(f[3] + f[4]) * tick;
    t.steal_s = static_cast<double>(f[7]) * tick;
    out[cpu] = t;
  }
  return out;
}

std::map<int, CpuTimes> read_cpu_times() {
  auto text = read_text_file("/proc/stat");
  if (!text) return {};
  return parse_cpu_times(*text);
}

std::map<int, CpuTimes> cpu_times_between(const std::map<int, CpuTimes>& earlier,
                                          const std::map<int, CpuTimes>& later) {
  std::map<int, CpuTimes> out;
  for (const auto& [cpu, b] : later) {
    auto it = earlier.find(cpu);
    if (it == earlier.end()) continue;
    const auto& a = it->second;
    out[cpu] = {b.busy_s - a.busy_s, b.idle_s - a.idle_s, b.steal_s - a.steal_s};
  }
  return out;
}

}  // namespace perfscope::system
