// doctor's judgement: from the capability probe and the real access probes to one verdict per
// perfscope capability, each with the reason and the exact fix. Pure: unit-tested over matrices
// of synthetic inputs; cli/doctor.cpp prints it.
#pragma once

#include <string>
#include <vector>

#include "system/capabilities.hpp"
#include "system/probes.hpp"

namespace perfscope::system {

enum class Feature {
  count_own,          // perfscope stat -- CMD
  count_system,       // perfscope stat -a / monitor -a
  profile_own,        // perfscope record -- CMD
  profile_system,     // perfscope record -a, with kernel stacks
  ebpf_profile,       // perfscope record --backend bpf
  syscall_summary,    // perfscope syscalls
  heap_profile,       // perfscope mem
  hardware_counters,  // cycles, instructions, cache events
};
const char* feature_key(Feature f);    // "count-own", for --need and JSON
const char* feature_title(Feature f);  // "counting own processes"

struct Verdict {
  Feature feature;
  bool ok = false;
  std::string why;  // one line: what was tried and what happened
  std::string fix;  // the exact commands; empty when ok or when nothing can be done
};

// Other findings that are not capabilities but explain them (tracefs, limits, containers ...).
struct Finding {
  std::string topic;
  bool ok = true;
  std::string text;
  std::string fix;
};

struct Diagnosis {
  std::vector<Verdict> verdicts;
  std::vector<Finding> findings;
};

// `online_cpus` sizes the ring-buffer and file-descriptor needs of a system-wide recording.
Diagnosis diagnose(const Capabilities& caps, const ProbeResults& probes, int online_cpus);

}  // namespace perfscope::system
