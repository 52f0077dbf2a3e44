// PerfTracer: the syscall summary without eBPF. The raw_syscalls:sys_enter and sys_exit
// tracepoints are opened as perf events (one ring per CPU, every event of a CPU writing into it)
// and every call's two records are paired here, by thread. Needs tracefs (for the tracepoint ids
// and field offsets: mounted here when missing and allowed) and, for raw tracepoint data,
// CAP_PERFMON or kernel.perf_event_paranoid = -1. Measures wall-clock time only.
#pragma once

#include <memory>

#include "core/error.hpp"
#include "syscalls/tracer.hpp"
#include "system/capabilities.hpp"

namespace perfscope::syscalls {

// The tracefs root perfscope can read, mounting it at /sys/kernel/tracing when none is mounted
// and this process may mount; else an Error saying how to get one. `mounted` says whether this
// call mounted it.
Result<std::string> ensure_tracefs(const system::Capabilities& caps, bool& mounted);

Result<std::unique_ptr<Tracer>> open_perf_tracer(const TracerOptions& options,
                                                 const system::Capabilities& caps);

}  // namespace perfscope::syscalls
