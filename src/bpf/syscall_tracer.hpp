// The eBPF backend of `perfscope syscalls`: bpf/syscalls.bpf.c on the raw_syscalls raw
// tracepoints counts, times and histograms every call of the chosen processes in per-CPU maps;
// finish() reads them once. Needs root or CAP_BPF + CAP_PERFMON, and kernel BTF. No tracefs.
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"
#include "syscalls/tracer.hpp"
#include "system/capabilities.hpp"

namespace perfscope::bpf {

// Why the eBPF syscall tracer cannot run here; empty when it can.
std::string syscall_tracer_unavailable(const system::Capabilities& caps);

Result<std::unique_ptr<syscalls::Tracer>> open_syscall_tracer(
    const syscalls::TracerOptions& options, const system::Capabilities& caps);

}  // namespace perfscope::bpf
