/* The ABI between bpf/syscalls.bpf.c and src/bpf/syscall_tracer.cpp: map keys, values and counter
 * slots of the in-kernel syscall summary. Plain C with fixed-width types, laid out alike by
 * clang -target bpf and g++. */
#ifndef PERFSCOPE_BPF_SYSCALLS_ABI_H
#define PERFSCOPE_BPF_SYSCALLS_ABI_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint32_t ps_sc_u32;
typedef std::int32_t ps_sc_s32;
typedef std::uint64_t ps_sc_u64;
#else
typedef __u32 ps_sc_u32;
typedef __s32 ps_sc_s32;
typedef __u64 ps_sc_u64;
#endif

#define PS_SC_COMM_LEN 16
/* Latency histogram: bucket b counts calls of [2^b, 2^(b+1)) nanoseconds (bucket 0 also holds 0).
 */
#define PS_SC_HIST_BUCKETS 40

/* How rows are split (the `by` knob): per syscall only, per process, or per thread. */
#define PS_SC_BY_SYSCALL 0
#define PS_SC_BY_PROCESS 1
#define PS_SC_BY_THREAD 2

/* Values of the `targets` map. */
#define PS_SC_TARGET_ACTIVE 1
#define PS_SC_TARGET_AWAIT_EXEC 2 /* a command held before exec: only its execve counts */

/* One row of the `counts` per-CPU hash. tgid, tid and comm are zero when `by` does not split on
 * them. */
struct ps_sc_key {
  ps_sc_u32 tgid;
  ps_sc_u32 tid;
  ps_sc_s32 nr;
  ps_sc_u32 pad;
  char comm[PS_SC_COMM_LEN];
};

struct ps_sc_value {
  ps_sc_u64 calls;
  ps_sc_u64 errors;
  ps_sc_u64 wall_ns; /* entry to exit */
  ps_sc_u64 cpu_ns;  /* entry to exit less the time the thread was switched out meanwhile */
  ps_sc_u64 min_ns;  /* of wall time */
  ps_sc_u64 max_ns;
  ps_sc_u64 untimed;                  /* counted, not timed (wall_ns etc. leave it out) */
  ps_sc_u64 hist[PS_SC_HIST_BUCKETS]; /* of wall time */
};

/* One entry of the `errors` per-CPU hash: calls of a row that failed with `err` (an errno). */
struct ps_sc_error_key {
  struct ps_sc_key row;
  ps_sc_s32 err;
  ps_sc_u32 pad;
};

/* Slots of the in-flight array (thread id modulo this) and rows of the per-number counts. */
#define PS_SC_INFLIGHT_SLOTS 65536
#define PS_SC_MAX_NR 512 /* above the highest x86-64 and arm64 number (469 in 6.18) */
/* Words of the `active_bits` bitmap: one bit per possible pid (PID_MAX_LIMIT on 64-bit, 2^22). */
#define PS_SC_ACTIVE_WORDS (4194304 / 64)

/* A call in flight, in its thread's slot; tid 0 when the slot is free. */
struct ps_sc_inflight {
  ps_sc_u64 start_ns;
  ps_sc_u64 off_cpu_ns;
  ps_sc_u64 switched_out_ns; /* 0 while on a CPU */
  ps_sc_u32 tid;
  ps_sc_s32 nr;
};

/* Slots of the per-CPU `stats` array. */
enum ps_sc_stat {
  PS_SC_STAT_CALLS = 0,   /* calls counted */
  PS_SC_STAT_UNTIMED,     /* counted but not timed: another thread took its in-flight slot */
  PS_SC_STAT_UNKNOWN_NR,  /* not counted: slot taken and the number unknown (or too large) */
  PS_SC_STAT_COUNTS_FULL, /* call lost: the counts map was full */
  PS_SC_STAT_ERRORS_FULL, /* errno breakdown lost: the errors map was full */
  PS_SC_STAT_UNFINISHED,  /* calls still in flight when their thread exited (exit, exit_group) */
  PS_SC_STAT_NEW_TARGETS, /* child processes added to the target set */
  PS_SC_STAT_COUNT
};

#endif
