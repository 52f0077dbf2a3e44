#include "support/requirements.hpp"

#include "bpf/profiler.hpp"

#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace perfscope::testing {

Requirement paranoid(int level) {
  return {[level](const system::Capabilities& c) -> std::string {
    if (!c.perf_events_supported) return "perf events are not supported by this kernel";
    if (c.paranoid_allows(level)) return {};
    std::ostringstream s;
    s << "perf_event_paranoid is " << c.paranoid << ", this test needs <= " << level
      << " or CAP_PERFMON (sudo sysctl -w kernel.perf_event_paranoid=" << level << ")";
    return s.str();
  }};
}

Requirement pmu(const std::string& name) {
  return {[name](const system::Capabilities& c) -> std::string {
    if (c.find_pmu(name) != nullptr) return {};
    return "no PMU '" + name + "' under /sys/bus/event_source/devices";
  }};
}

Requirement hardware_pmu() {
  return {[](const system::Capabilities& c) -> std::string {
    if (c.hardware_pmu) return {};
    return "no hardware PMU (virtual machine without PMU passthrough): hardware events cannot be "
           "counted here";
  }};
}

Requirement tracefs() {
  return {[](const system::Capabilities& c) -> std::string {
    if (c.tracefs_path.empty())
      return "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)";
    if (!c.tracefs_readable)
      return "tracefs at " + c.tracefs_path + " is not readable by this user";
    return {};
  }};
}

Requirement cap(system::Cap capability) {
  return {[capability](const system::Capabilities& c) -> std::string {
    if (c.has(capability)) return {};
    return std::string(system::cap_name(capability)) + " is not in the effective set";
  }};
}

Requirement root() {
  return {[](const system::Capabilities&) -> std::string {
    return ::geteuid() == 0 ? std::string{} : std::string{"needs root (euid 0)"};
  }};
}

Requirement program(const std::string& name) {
  return {[name](const system::Capabilities&) -> std::string {
    const std::string cmd = "command -v " + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return {};
    return name + " is not installed (scripts/install-deps.sh installs it)";
  }};
}

Requirement bpf_backend() {
  return {[](const system::Capabilities& caps) { return bpf::unavailable_reason(caps); }};
}

std::string unmet(std::initializer_list<Requirement> requirements) {
  const auto& caps = system::Capabilities::current();
  std::string out;
  for (const auto& r : requirements) {
    std::string why = r.check(caps);
    if (!why.empty()) out += (out.empty() ? "" : "; ") + why;
  }
  return out;
}

}  // namespace perfscope::testing
