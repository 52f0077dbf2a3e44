/* The ABI between bpf/profile.bpf.c and src/bpf/: map keys, values and counter slots. Plain C with
 * fixed-width types so that clang -target bpf and g++ lay the structs out the same way. */
#ifndef PERFSCOPE_BPF_PROFILE_ABI_H
#define PERFSCOPE_BPF_PROFILE_ABI_H

#ifdef __cplusplus
#include <cstdint>
typedef std::uint32_t ps_u32;
typedef std::int32_t ps_s32;
typedef std::uint64_t ps_u64;
#else
typedef __u32 ps_u32;
typedef __s32 ps_s32;
typedef __u64 ps_u64;
#endif

#define PS_COMM_LEN 16
/* Frames per stack in the stack-trace map (the kernel's PERF_MAX_STACK_DEPTH). */
#define PS_MAX_STACK_DEPTH 127

/* One key of the in-kernel `counts` hash: a distinct (process, thread, CPU, program image, stacks).
 * A stack id below zero is -errno from bpf_get_stackid (-EEXIST: the stack map bucket held another
 * stack; -EFAULT: no stack of that kind, e.g. no kernel frames for a sample in user space), or
 * PS_NO_STACK when that kind of stack was not asked for. */
#define PS_NO_STACK (-1000)
/* user_stack: the in-kernel CFI walker made the user stack; it is in `ustacks` under user_hash. */
#define PS_CFI_STACK (-1001)
struct ps_count_key {
  ps_u32 tgid;
  ps_u32 pid;
  ps_u32 cpu;
  ps_s32 kernel_stack;
  ps_s32 user_stack;
  ps_u32 pad;
  /* CLOCK_MONOTONIC time of the process's last exec seen while recording, 0 when none: tells the
   * program image the sample belongs to when a process exec()s during the recording. */
  ps_u64 exec_time;
  ps_u64 user_hash; /* with PS_CFI_STACK: the key of the stack in `ustacks` */
  char comm[PS_COMM_LEN];
};

/* The value of a `counts` entry: samples, and the sum of their periods (nanoseconds of CPU for
 * cpu-clock; events for other events, whose period the kernel varies in frequency mode). */
struct ps_count_value {
  ps_u64 count;
  ps_u64 period;
};

/* Slots of the per-CPU `stats` array. */
enum ps_stat {
  PS_STAT_SAMPLES = 0,      /* samples counted into `counts` */
  PS_STAT_IDLE,             /* samples of the idle task, left out (skip_idle) */
  PS_STAT_KSTACK_COLLISION, /* kernel stack id -EEXIST: the stack was not stored */
  PS_STAT_KSTACK_ERROR,     /* kernel stack id failed otherwise (not -EFAULT in user space) */
  PS_STAT_USTACK_COLLISION, /* user stack id -EEXIST */
  PS_STAT_USTACK_ERROR,     /* user stack id failed otherwise (-EFAULT: no user stack) */
  PS_STAT_COUNTS_FULL,      /* `counts` had no room: the sample is lost */
  PS_STAT_FILTERED,         /* samples of processes outside the target set */
  PS_STAT_NEW_TARGETS,      /* child processes added to the target set */
  PS_STAT_EXECS,            /* exec()s of sampled processes seen */
  PS_STAT_CFI_STACKS,       /* user stacks walked in the kernel with the unwind tables */
  PS_STAT_CFI_PENDING,      /* samples of processes whose tables were not loaded yet (frame
                             * pointers used) */
  PS_STAT_USTACKS_FULL,     /* a walked stack found `ustacks` full: its frames are lost */
  PS_STAT_FP_FRAMES,        /* frames the walker took by frame pointer (no CFI there) */
  PS_STAT_CFI_FRAMES,       /* frames the walker took by CFI */
  PS_STAT_COUNT
};

#endif
