// The eBPF backend of `perfscope syscalls`: bpf/syscalls.bpf.c on the raw_syscalls raw
// tracepoints counts, times and histograms every call of the chosen processes in per-CPU maps;
// finish() reads them once. Needs what bpf::unavailable_reason (profiler.hpp) checks: root or
// CAP_BPF + CAP_PERFMON, and kernel BTF. No tracefs.
#pragma once

#include <memory>
#include <string>

#include "core/error.hpp"
#include "syscalls/session.hpp"
#include "syscalls/tracer.hpp"
#include "system/capabilities.hpp"

namespace perfscope::bpf {

Result<std::unique_ptr<syscalls::Tracer>> open_syscall_tracer(
    const syscalls::TracerOptions& options, const system::Capabilities& caps);

// The tracer a syscalls::Session opens: eBPF when allowed (or asked), else perf tracepoint events
// (syscalls/perf_tracer.hpp), with a note saying why eBPF was not used. When neither can run, one
// error with both reasons and doctor's fix. `caps` must outlive the opener.
syscalls::TracerOpener syscall_tracer_opener(syscalls::BackendChoice choice,
                                             const system::Capabilities& caps);

}  // namespace perfscope::bpf
