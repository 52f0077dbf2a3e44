#include "cli/doctor.hpp"

#include <unistd.h>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/report_error.hpp"
#include "core/cpu_set.hpp"
#include "core/files.hpp"
#include "system/binary_check.hpp"
#include "system/doctor.hpp"
#include "system/fixes.hpp"
#include "system/permission_advice.hpp"

namespace perfscope::cli {
namespace {

using system::Feature;

constexpr Feature kAllFeatures[] = {Feature::count_own,    Feature::count_system,
                                    Feature::profile_own,  Feature::profile_system,
                                    Feature::ebpf_profile, Feature::syscall_summary,
                                    Feature::heap_profile, Feature::hardware_counters};

Result<std::vector<Feature>> parse_need(const std::string& text) {
  if (text.empty()) return std::vector<Feature>(std::begin(kAllFeatures), std::end(kAllFeatures));
  std::vector<Feature> out;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view key = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    bool found = false;
    for (Feature f : kAllFeatures) {
      if (key == system::feature_key(f)) out.push_back(f), found = true;
    }
    if (!found) {
      std::string keys;
      for (Feature f : kAllFeatures)
        keys += (keys.empty() ? "" : ", ") + std::string(system::feature_key(f));
      return Error{fmt::format("unknown capability '{}' in --need", key), 0, "  one of: " + keys};
    }
  }
  return out;
}

std::string sysctl_dir() {
  const char* dir = std::getenv("PERFSCOPE_SYSCTL_D");  // tests point this at a scratch directory
  return dir != nullptr ? dir : "/etc/sysctl.d";
}

nlohmann::json binary_json(const system::BinaryReport& b) {
  return {{"path", b.path},
          {"symbols", b.symtab},
          {"dynamic_symbols", b.dynsym},
          {"debug_info", b.debug_info},
          {"debuglink", b.debuglink},
          {"build_id", b.build_id},
          {"entry_offset", b.entry_offset},
          {"eh_frame", b.eh_frame},
          {"eh_frame_hdr", b.eh_frame_hdr},
          {"debug_frame", b.debug_frame},
          {"functions_sampled", b.functions_sampled},
          {"with_frame_pointer", b.with_frame_pointer},
          {"frame_pointers", b.frame_pointers()}};
}

void print_binary(const system::BinaryReport& b) {
  auto yn = [](bool v) { return v ? "yes" : "no"; };
  fmt::print("\nBinary {}:\n", b.path);
  fmt::print("  symbols (.symtab)      {}{}\n", yn(b.symtab),
             b.symtab   ? ""
             : b.dynsym ? " (stripped: exported .dynsym symbols only)"
                        : " (stripped)");
  fmt::print("  DWARF debug info       {}{}\n", yn(b.debug_info),
             b.debuglink.empty() ? "" : fmt::format(" (separate file: {})", b.debuglink));
  fmt::print("  build-id               {}\n", b.build_id.empty() ? "none" : b.build_id);
  fmt::print("  unwind tables          .eh_frame {}, .eh_frame_hdr {}, .debug_frame {}\n",
             yn(b.eh_frame), yn(b.eh_frame_hdr), yn(b.debug_frame));
  fmt::print("  frame pointers         {} of {} sampled functions set up %rbp\n",
             b.with_frame_pointer, b.functions_sampled);
  if (b.functions_sampled == 0) {
    fmt::print(
        "  => no function symbols to sample, so frame pointers cannot be checked; "
        "--call-graph dwarf does not need them\n");
  } else if (b.frame_pointers()) {
    fmt::print("  => --call-graph fp gives full stacks in this binary\n");
  } else {
    fmt::print("  => --call-graph fp will lose frames here; use --call-graph dwarf{}\n",
               b.eh_frame
                   ? ""
                   : " (but it has no .eh_frame either: rebuild with -fno-omit-frame-pointer)");
  }
}

// --fix: as root, apply; otherwise print the commands. Returns the exit status.
int run_fix(const DoctorOptions& o, const system::Capabilities& caps) {
  std::vector<std::string> plan;
  if (caps.paranoid != o.level)
    plan.push_back(fmt::format("sysctl -w kernel.perf_event_paranoid={}", o.level));
  const std::string conf = sysctl_dir() + "/99-perfscope.conf";
  if (o.persist)
    plan.push_back(fmt::format("write '{}' with kernel.perf_event_paranoid = {}", conf, o.level));
  const bool mount_tracefs = caps.tracefs_path.empty();
  if (mount_tracefs) plan.push_back("mount -t tracefs nodev /sys/kernel/tracing");
  if (plan.empty()) {
    fmt::print("Nothing to change: perf_event_paranoid is already {}{}.\n", o.level,
               mount_tracefs ? "" : " and tracefs is mounted");
    return 0;
  }
  if (::geteuid() != 0) {
    fmt::print("Not root: nothing was changed. To apply, run:\n");
    for (const auto& p : plan)
      fmt::print(
          "  sudo {}\n",
          p.rfind("write", 0) == 0
              ? fmt::format("sh -c \"echo 'kernel.perf_event_paranoid = {}' > {}\"", o.level, conf)
              : p);
    return 1;
  }
  fmt::print("perfscope doctor --fix will:\n");
  for (const auto& p : plan) fmt::print("  {}\n", p);
  fmt::print("Lowering perf_event_paranoid lets every local user observe more of the system.\n");
  if (!o.yes) {
    if (!::isatty(STDIN_FILENO)) {
      return report_error("doctor",
                          Error{"not applying without confirmation", 0,
                                "  standard input is not a terminal: pass --yes to apply"});
    }
    fmt::print("Apply? [y/N] ");
    std::fflush(stdout);
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes") {
      fmt::print("Nothing was changed.\n");
      return 1;
    }
  }
  std::vector<std::string> undo;
  if (caps.paranoid != o.level) {
    if (auto st = system::set_paranoid_level(o.level); !st)
      return report_error("doctor", st.error());
    fmt::print("changed: kernel.perf_event_paranoid {} -> {}\n", caps.paranoid, o.level);
    undo.push_back(fmt::format("sudo sysctl -w kernel.perf_event_paranoid={}", caps.paranoid));
  }
  if (o.persist) {
    if (auto st = system::persist_paranoid_level(o.level, conf); !st) {
      return report_error("doctor", st.error());
    }
    fmt::print("wrote: {} (applied at every boot)\n", conf);
    undo.push_back("sudo rm " + conf);
  }
  if (mount_tracefs) {
    if (auto st = system::mount_tracefs(); !st) return report_error("doctor", st.error());
    fmt::print("mounted: tracefs at /sys/kernel/tracing\n");
    undo.push_back("sudo umount /sys/kernel/tracing");
  }
  fmt::print("To undo:\n");
  for (const auto& u : undo) fmt::print("  {}\n", u);
  return 0;
}

}  // namespace

void add_doctor_command(CLI::App& app, DoctorOptions& o, int& exit_code) {
  auto* sub = app.add_subcommand(
      "doctor",
      "Check what perfscope can do here, by trying it, and print the fix for what it cannot");
  sub->add_flag("-j,--json", o.json, "The same as JSON");
  sub->add_option(
      "--binary", o.binary,
      "Also inspect this binary: symbols, DWARF, build-id, unwind tables, frame pointers");
  sub->add_option(
      "--need", o.need,
      "Capabilities that decide the exit status (default: all): count-own, count-system, "
      "profile-own, profile-system, ebpf, syscalls, heap, hardware");
  sub->add_flag("--fix", o.fix,
                "As root: set perf_event_paranoid (and mount tracefs), after asking");
  sub->add_option("--level", o.level, "The paranoid level --fix sets (default 1)")
      ->check(CLI::Range(-1, 4));
  sub->add_flag("--persist", o.persist, "With --fix: also write /etc/sysctl.d/99-perfscope.conf");
  sub->add_flag("-y,--yes", o.yes, "With --fix: do not ask");
  sub->footer(
      "Exit status: 0 when every capability in --need works, 1 otherwise.\n"
      "Examples:\n"
      "  perfscope doctor\n"
      "  perfscope doctor --need count-own,profile-own --binary ./myprogram\n"
      "  sudo perfscope doctor --fix --level 1 --persist");
  sub->callback([&o, &exit_code] { exit_code = run_doctor(o); });
}

int run_doctor(const DoctorOptions& o) {
  auto need = parse_need(o.need);
  if (!need) return report_error("doctor", need.error());
  std::optional<system::BinaryReport> binary;
  if (!o.binary.empty()) {
    auto b = system::inspect_binary(o.binary);
    if (!b) return report_error("doctor", b.error());
    binary = std::move(*b);
  }
  const auto& caps = system::Capabilities::current();
  if (o.fix) return run_fix(o, caps);

  const auto probes = system::run_probes(caps);
  const auto cpus = CpuSet::online();
  const auto diagnosis = system::diagnose(caps, probes, cpus ? static_cast<int>(cpus->size()) : 1);
  bool all_needed_ok = true;
  for (const auto& v : diagnosis.verdicts) {
    if (!v.ok && std::find(need->begin(), need->end(), v.feature) != need->end())
      all_needed_ok = false;
  }

  if (o.json) {
    nlohmann::json j;
    j["uid"] = ::getuid();
    j["paranoid"] = caps.paranoid;
    for (const auto& v : diagnosis.verdicts) {
      j["capabilities"].push_back({{"key", system::feature_key(v.feature)},
                                   {"title", system::feature_title(v.feature)},
                                   {"ok", v.ok},
                                   {"why", v.why},
                                   {"fix", v.fix}});
    }
    for (const auto& f : diagnosis.findings) {
      j["findings"].push_back(
          {{"topic", f.topic}, {"ok", f.ok}, {"text", f.text}, {"fix", f.ok ? "" : f.fix}});
    }
    if (binary) j["binary"] = binary_json(*binary);
    j["ok"] = all_needed_ok;
    fmt::print("{}\n", j.dump(2));
    return all_needed_ok ? 0 : 1;
  }

  fmt::print("perfscope doctor: uid {}, perf_event_paranoid {}, {} online CPUs\n\n", ::getuid(),
             caps.paranoid, cpus ? cpus->size() : 0);
  fmt::print("{:<42} {:<3}  {}\n", "CAPABILITY", "", "WHY");
  for (const auto& v : diagnosis.verdicts) {
    fmt::print("{:<42} {:<3}  {}\n", system::feature_title(v.feature), v.ok ? "OK" : "NO", v.why);
    if (!v.fix.empty()) fmt::print("{}\n", v.fix);
  }
  fmt::print("\nFindings:\n");
  for (const auto& f : diagnosis.findings) {
    fmt::print("  {:<28} {}{}\n", f.topic, f.ok ? "" : "[!] ", f.text);
    if (!f.ok && !f.fix.empty()) fmt::print("  {}\n", f.fix);
  }
  fmt::print("\nWhat perf_event_paranoid levels allow (for users without CAP_PERFMON):\n{}\n",
             system::paranoid_levels_explained());
  if (binary) print_binary(*binary);
  return all_needed_ok ? 0 : 1;
}

}  // namespace perfscope::cli
