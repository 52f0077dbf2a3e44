/* The ABI between bpf/offcpu.bpf.c and src/bpf/offcpu.cpp: map keys, values and counter slots.
 * Plain C with fixed-width types so that clang -target bpf and g++ lay the structs out alike. */
#ifndef PERFSCOPE_BPF_OFFCPU_ABI_H
#define PERFSCOPE_BPF_OFFCPU_ABI_H

#include "profile_abi.h"

/* The state a thread left the CPU in (sched_switch's prev_state, and its preempt flag). */
enum ps_offcpu_state {
  PS_STATE_SLEEPING = 1, /* TASK_INTERRUPTIBLE: waits a signal may end (sleep, poll, futex) */
  PS_STATE_BLOCKED = 2,  /* TASK_UNINTERRUPTIBLE: usually disk I/O or a kernel lock */
  PS_STATE_RUNNABLE = 3, /* still runnable: preempted, or yielded */
};

/* kernel_stack/user_stack: the frames are in `offcpu_stacks` under kernel_hash/user_hash. Stacks
 * are keyed by a hash of their frames, not by a stack-map slot: a key names the same frames for
 * the whole recording, so user space empties the stack maps once a second and keeps what it read
 * (a start stored before that may be counted long after). */
#define PS_HASHED_STACK (-1002)

/* A kernel stack, or a frame-pointer user stack, leaf first: the value of `offcpu_stacks`. */
struct ps_offcpu_frames {
  ps_u32 depth;
  ps_u32 pad;
  ps_u64 pcs[PS_MAX_STACK_DEPTH];
};

/* A thread that left the CPU: when, in which state, with which stacks. Keyed by thread id. */
struct ps_offcpu_start {
  ps_u64 time;        /* bpf_ktime_get_ns (CLOCK_MONOTONIC) at the switch */
  ps_u64 cpu_ns;      /* the thread's CPU time then (se.sum_exec_runtime) */
  ps_u64 task_start;  /* the thread's start_time: tells a reused thread id apart */
  ps_u64 kernel_hash; /* with kernel_stack PS_HASHED_STACK: the stack's key in offcpu_stacks */
  ps_u64 user_hash;   /* with user_stack PS_HASHED_STACK: in offcpu_stacks; PS_CFI_STACK: the
                       * walked stack's key in offcpu_ustacks */
  ps_s32 kernel_stack;
  ps_s32 user_stack;
  ps_u32 state;
  ps_u32 cpu;
};

/* One key of `offcpu_counts`: a distinct (process, thread, state, stacks). kernel_stack and
 * user_stack: PS_HASHED_STACK, PS_CFI_STACK (user), PS_NO_STACK, or -errno (-ENOMEM: the stack map
 * was full). */
struct ps_offcpu_key {
  ps_u32 tgid;
  ps_u32 pid;
  ps_s32 kernel_stack;
  ps_s32 user_stack;
  ps_u32 state;
  ps_u32 pad;
  ps_u64 exec_time; /* as in ps_count_key */
  ps_u64 kernel_hash;
  ps_u64 user_hash; /* as in ps_offcpu_start */
  char comm[PS_COMM_LEN];
};

/* Off-CPU intervals counted into an entry, and their nanoseconds. */
struct ps_offcpu_value {
  ps_u64 count;
  ps_u64 ns;
};

/* Slots of the per-CPU `offcpu_stats` array. */
enum ps_offcpu_stat {
  PS_OFF_SWITCHES = 0, /* target threads that left a CPU (a start stored) */
  PS_OFF_COUNTED,      /* off-CPU intervals added to `offcpu_counts` */
  PS_OFF_SHORT,        /* intervals shorter than min_block_ns, left out */
  PS_OFF_COUNTS_FULL,  /* intervals lost: `offcpu_counts` had no room */
  PS_OFF_STARTS_FULL,  /* switches lost: `offcpu_starts` had no room */
  PS_OFF_KSTACK_ERROR, /* kernel stack not stored (stack map full, or error) */
  PS_OFF_USTACK_ERROR, /* user stack not stored (stack map full, or error; not a kernel thread) */
  PS_OFF_NEW_TARGETS,  /* child processes added to the target set */
  PS_OFF_CFI_STACKS,   /* user stacks walked with the unwind tables (cfi_unwind) */
  PS_OFF_CFI_PENDING,  /* switches of processes whose tables were not loaded yet (frame pointers) */
  PS_OFF_USTACKS_FULL, /* a walked stack found `offcpu_ustacks` full: its frames are lost */
  PS_OFF_FP_FRAMES,    /* frames the walker took by frame pointer (no CFI there) */
  PS_OFF_CFI_FRAMES,   /* frames the walker took by CFI */
  PS_OFF_UNSEEN,       /* a thread left a CPU (or exited) with its previous start not consumed: its
                        * return to a CPU was not traced. The interval is measured as the time
                        * since that start less the CPU time the thread got meanwhile, and
                        * counted (or short, or counts full) as any other */
  PS_OFF_STACKS_FULL,  /* a kernel or frame-pointer user stack found `offcpu_stacks` full */
  PS_OFF_STALE,        /* a start left by an earlier thread of the same id (its end unseen): lost */
  PS_OFF_STAT_COUNT
};

#endif
