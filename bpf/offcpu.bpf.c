// SPDX-License-Identifier: GPL-2.0
/* perfscope's off-CPU profiler: on every context switch the thread leaving the CPU stores when it
 * left, in which state and with which kernel and user stacks; when it runs again, the time it was
 * away is added to that (thread, state, stacks) entry of a hash map. User space reads one entry
 * per distinct stack, as the on-CPU program's counts.
 *
 * The counts come in two generations (offcpu_counts0/1): `generation` says which one the program
 * writes; user space flips it every second, lets in-flight programs finish, then reads and empties
 * the other one, so a long system-wide run never fills the map. A start may be stored before a
 * flip and counted long after it, so stacks are not named by a stack-map slot (which a drain would
 * free for another stack) but by a hash of their frames: `offcpu_stacks` (kernel and frame-pointer
 * user stacks) and `offcpu_ustacks` (walked ones) map the hash to the frames, and user space,
 * which keeps every stack it read by its hash, empties both once a second too. So
 * --bpf-stack-entries bounds the distinct stacks of one second, not of the run.
 *
 * sched_switch runs in the context of the thread leaving (prev), so bpf_get_stack sees its
 * kernel stack (the wait) and its user stack (through the registers saved at kernel entry). With
 * cfi_unwind the user stack is walked from those registers (task_pt_regs) with the .eh_frame
 * tables instead (bpf/unwind_walk.h, the on-CPU program's walker): a wait that starts in a libc
 * system-call wrapper, which keeps no frame pointer, still shows the wrapper's caller.
 *
 * A thread can run again without a sched_switch the program sees (it then finds its own start
 * still stored at its next switch away, or at its exit). On the 6.18 "fc" VM kernel this happens
 * when the thread takes the CPU from a thread of process 1 (the VM's agent): switches away from
 * those threads reach no sched_switch tracer (perf, bpftrace and tp_btf alike see them switched in,
 * never out); a program that missed a switch (recursion) does the same. The interval is then
 * measured as the time since the start less the CPU time the thread got meanwhile
 * (se.sum_exec_runtime, exact up to interrupt and steal time) and counted like any other. */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <stdbool.h>

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "kernel_types.h"
#include "offcpu_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Knobs, set by user space before load. */
const volatile bool filter_targets = false; /* only processes in `targets` (and their children) */
const volatile bool kernel_stacks = true;
const volatile __u64 min_block_ns = 1000; /* shorter intervals are counted as short, not stored */
const volatile bool cfi_unwind = false;   /* walk user stacks with the unwind tables */

/* Which counts map the program writes; flipped by user space. */
volatile __u32 generation = 0;

/* The kernel's task state bits (include/linux/sched.h): stable ABI of sched_switch's prev_state. */
#define PS_TASK_INTERRUPTIBLE 0x1
#define PS_TASK_UNINTERRUPTIBLE 0x2
#define PS_TASK_DEAD 0x80 /* the thread's last switch: it never runs again */
#define PS_TASK_NOLOAD 0x400

/* The task fields this program reads beyond kernel_types.h's (CO-RE: names only; the ___offcpu
 * flavour is ignored when matching the kernel's BTF). */
struct sched_entity___offcpu {
  __u64 sum_exec_runtime;
} __attribute__((preserve_access_index));
struct task_struct___offcpu {
  struct sched_entity___offcpu se;
  __u64 start_time;
} __attribute__((preserve_access_index));

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, __u32);
  __type(value, struct ps_offcpu_start);
} offcpu_starts SEC(".maps");

#define COUNTS_MAP(name)                   \
  struct {                                 \
    __uint(type, BPF_MAP_TYPE_HASH);       \
    __uint(max_entries, 32768);            \
    __type(key, struct ps_offcpu_key);     \
    __type(value, struct ps_offcpu_value); \
  } name SEC(".maps")

COUNTS_MAP(offcpu_counts0);
COUNTS_MAP(offcpu_counts1);

/* Kernel and frame-pointer user stacks by the hash of their frames (PS_HASHED_STACK). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct ps_offcpu_frames);
} offcpu_stacks SEC(".maps");

/* bpf_get_stack's buffer, per CPU (too big for the 512-byte BPF stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ps_offcpu_frames);
} frames_scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PS_OFF_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} offcpu_stats SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u8);
} targets SEC(".maps");

/* tgid -> CLOCK_MONOTONIC time of its last exec during the recording (see ps_count_key). */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u64);
} exec_times SEC(".maps");

static __always_inline void count_stat(__u32 slot) {
  __u64* v = bpf_map_lookup_elem(&offcpu_stats, &slot);
  if (v) *v += 1;
}

/* The native unwinder, as the on-CPU program has it; its table maps are the on-CPU program's own
 * when both run (--wall). */
#define PS_WALK_FP_FRAMES PS_OFF_FP_FRAMES
#define PS_WALK_CFI_FRAMES PS_OFF_CFI_FRAMES
#define PS_WALK_PENDING PS_OFF_CFI_PENDING
#define ps_walk_count count_stat
#include "unwind_walk.h"

/* Walked user stacks, keyed by the hash of their frames (ps_offcpu_key.user_hash). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 16384);
  __type(key, __u64);
  __type(value, struct ps_user_stack);
} offcpu_ustacks SEC(".maps");

/* Walks the leaving thread's user stack from the registers it entered the kernel with. False when
 * its process has no tables yet (the caller takes frame pointers). */
static __always_inline bool walk_user_stack(__u32 tgid, struct ps_offcpu_start* start) {
  struct ps_proc_unwind* proc = ps_unwind_proc(tgid);
  if (!proc) return false;
  struct task_struct* task = bpf_get_current_task_btf();
  struct pt_regs___kernel* regs = (struct pt_regs___kernel*)bpf_task_pt_regs(task);
  struct walk_state* st =
      ps_walk_begin(BPF_CORE_READ(regs, ip), BPF_CORE_READ(regs, sp), BPF_CORE_READ(regs, bp));
  if (!st) return false;
  __u64 hash = ps_walk(st, proc, tgid);
  if (!hash) return false;
  count_stat(PS_OFF_CFI_STACKS);
  start->user_stack = PS_CFI_STACK;
  start->user_hash = hash;
  long err = bpf_map_update_elem(&offcpu_ustacks, &hash, &st->stack, BPF_NOEXIST);
  if (err && err != -EEXIST) {
    count_stat(PS_OFF_USTACKS_FULL);
    start->user_stack = -ENOMEM;
    start->user_hash = 0;
  }
  return true;
}

static __always_inline __u32 state_of(bool preempt, unsigned int prev_state) {
  if (preempt || prev_state == 0) return PS_STATE_RUNNABLE;
  /* TASK_IDLE (uninterruptible, not counted in the load average) is a kernel thread's idle wait:
   * a sleep, not a blocked thread. */
  if ((prev_state & PS_TASK_UNINTERRUPTIBLE) && !(prev_state & PS_TASK_NOLOAD)) {
    return PS_STATE_BLOCKED;
  }
  return PS_STATE_SLEEPING;
}

/* The frames' key in offcpu_stacks: FNV-1a over the frames and the depth, with a shift that folds
 * the high bits of each address into the low ones. Never 0. */
static __always_inline __u64 hash_frames(const struct ps_offcpu_frames* f) {
  __u64 h = 0xcbf29ce484222325ULL ^ f->depth;
  for (__u32 i = 0; i < PS_MAX_STACK_DEPTH; i++) {
    if (i >= f->depth) break;
    h = (h ^ f->pcs[i]) * 0x100000001b3ULL;
    h ^= h >> 29;
  }
  return h ? h : 1;
}

/* The current thread's kernel or (flags BPF_F_USER_STACK) user stack into offcpu_stacks. Returns
 * PS_HASHED_STACK with *hash set, or -errno (-ENOMEM: the map is full). */
static __always_inline __s32 store_stack(void* ctx, __u64 flags, __u64* hash) {
  __u32 zero = 0;
  struct ps_offcpu_frames* f = bpf_map_lookup_elem(&frames_scratch, &zero);
  if (!f) return -ENOMEM;
  long bytes = bpf_get_stack(ctx, f->pcs, sizeof(f->pcs), flags);
  if (bytes <= 0) return bytes < 0 ? (__s32)bytes : -ENOENT;
  f->depth = (__u32)(bytes / sizeof(__u64));
  f->pad = 0;
  __u64 h = hash_frames(f);
  if (!bpf_map_lookup_elem(&offcpu_stacks, &h)) {
    long err = bpf_map_update_elem(&offcpu_stacks, &h, f, BPF_NOEXIST);
    if (err && err != -EEXIST) {
      count_stat(PS_OFF_STACKS_FULL);
      return -ENOMEM;
    }
  }
  *hash = h;
  return PS_HASHED_STACK;
}

static __always_inline void count_interval(struct task_struct* task,
                                           const struct ps_offcpu_start* start, __u64 delta);

/* `task` left a CPU (or exits) while its start is still stored: it ran again without a switch the
 * program saw. The time it was away is the time since the start less the CPU time it got since. */
static __always_inline void count_unseen_return(struct task_struct* task,
                                                const struct ps_offcpu_start* start, __u64 now,
                                                __u64 cpu_ns, __u64 task_start) {
  count_stat(PS_OFF_UNSEEN);
  if (start->task_start != task_start || cpu_ns < start->cpu_ns || now < start->time) {
    count_stat(PS_OFF_STALE);
    return;
  }
  __u64 away = now - start->time, ran = cpu_ns - start->cpu_ns;
  count_interval(task, start, away > ran ? away - ran : 0);
}

/* The thread leaving the CPU: stores its stacks and the time, when it is a target. */
static __always_inline void leave(void* ctx, struct task_struct* prev, __u32 state, __u64 now) {
  __u32 pid = BPF_CORE_READ(prev, pid);
  if (pid == 0) return; /* the idle task */
  __u32 tgid = BPF_CORE_READ(prev, tgid);
  if (filter_targets && !bpf_map_lookup_elem(&targets, &tgid)) return;
  struct task_struct___offcpu* t = (void*)prev;
  struct ps_offcpu_start start = {0};
  start.time = now;
  start.cpu_ns = BPF_CORE_READ(t, se.sum_exec_runtime);
  start.task_start = BPF_CORE_READ(t, start_time);
  start.state = state;
  start.cpu = bpf_get_smp_processor_id();
  start.kernel_stack = PS_NO_STACK;
  start.user_stack = PS_NO_STACK;
  if (kernel_stacks) {
    /* The two innermost frames are this program and bpf_trace_run4, not the thread's. */
    start.kernel_stack = store_stack(ctx, 2 & BPF_F_SKIP_FIELD_MASK, &start.kernel_hash);
    if (start.kernel_stack != PS_HASHED_STACK) count_stat(PS_OFF_KSTACK_ERROR);
  }
  /* Kernel threads have no user stack. */
  if (BPF_CORE_READ(prev, mm) != 0 && !(cfi_unwind && walk_user_stack(tgid, &start))) {
    start.user_stack = store_stack(ctx, BPF_F_USER_STACK, &start.user_hash);
    if (start.user_stack != PS_HASHED_STACK) count_stat(PS_OFF_USTACK_ERROR);
  }
  /* A start still stored: the thread ran again without a switch the program saw. */
  struct ps_offcpu_start* unseen = bpf_map_lookup_elem(&offcpu_starts, &pid);
  if (unseen) count_unseen_return(prev, unseen, now, start.cpu_ns, start.task_start);
  if (bpf_map_update_elem(&offcpu_starts, &pid, &start, BPF_ANY) != 0) {
    count_stat(PS_OFF_STARTS_FULL);
    return;
  }
  count_stat(PS_OFF_SWITCHES);
}

/* A target thread's last switch: a start still stored ends here (its return was not seen). */
static __always_inline void leave_for_good(struct task_struct* prev, __u64 now) {
  __u32 pid = BPF_CORE_READ(prev, pid);
  struct ps_offcpu_start* unseen = bpf_map_lookup_elem(&offcpu_starts, &pid);
  if (!unseen) return;
  struct task_struct___offcpu* t = (void*)prev;
  count_unseen_return(prev, unseen, now, BPF_CORE_READ(t, se.sum_exec_runtime),
                      BPF_CORE_READ(t, start_time));
  bpf_map_delete_elem(&offcpu_starts, &pid);
}

/* Adds one interval of `delta` ns to the key's entry of `counts`. */
static __always_inline void count(void* counts, struct ps_offcpu_key* key, __u64 delta) {
  struct ps_offcpu_value* value = bpf_map_lookup_elem(counts, key);
  if (value) {
    __sync_fetch_and_add(&value->count, 1);
    __sync_fetch_and_add(&value->ns, delta);
  } else {
    struct ps_offcpu_value first = {1, delta};
    long err = bpf_map_update_elem(counts, key, &first, BPF_NOEXIST);
    if (err == -EEXIST) { /* another CPU inserted the same key meanwhile */
      value = bpf_map_lookup_elem(counts, key);
      if (value) {
        __sync_fetch_and_add(&value->count, 1);
        __sync_fetch_and_add(&value->ns, delta);
      }
    } else if (err) {
      count_stat(PS_OFF_COUNTS_FULL);
      return;
    }
  }
  count_stat(PS_OFF_COUNTED);
}

/* One off-CPU interval of `task` that began at `start`: to its stacks' entry, unless short. */
static __always_inline void count_interval(struct task_struct* task,
                                           const struct ps_offcpu_start* start, __u64 delta) {
  if (delta < min_block_ns) {
    count_stat(PS_OFF_SHORT);
    return;
  }
  struct ps_offcpu_key key;
  __builtin_memset(&key, 0, sizeof(key));
  key.tgid = BPF_CORE_READ(task, tgid);
  key.pid = BPF_CORE_READ(task, pid);
  key.kernel_stack = start->kernel_stack;
  key.user_stack = start->user_stack;
  key.kernel_hash = start->kernel_hash;
  key.user_hash = start->user_hash;
  key.state = start->state;
  BPF_CORE_READ_STR_INTO(&key.comm, task, comm);
  __u64* exec_time = bpf_map_lookup_elem(&exec_times, &key.tgid);
  if (exec_time) key.exec_time = *exec_time;
  if (generation & 1) {
    count(&offcpu_counts1, &key, delta);
  } else {
    count(&offcpu_counts0, &key, delta);
  }
}

/* The thread taking the CPU: the time since it left goes to its stacks' entry. */
static __always_inline void arrive(struct task_struct* next, __u64 now) {
  __u32 pid = BPF_CORE_READ(next, pid);
  struct ps_offcpu_start* start = bpf_map_lookup_elem(&offcpu_starts, &pid);
  if (!start) return;
  struct ps_offcpu_start copy = *start;
  bpf_map_delete_elem(&offcpu_starts, &pid);
  count_interval(next, &copy, now - copy.time);
}

/* sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
 *              unsigned int prev_state), kernels 5.18 and later. */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct* prev, struct task_struct* next,
             unsigned int prev_state) {
  __u64 now = bpf_ktime_get_ns();
  if (!(prev_state & PS_TASK_DEAD)) {
    leave(ctx, prev, state_of(preempt, prev_state), now);
  } else {
    leave_for_good(prev, now);
  }
  arrive(next, now);
  return 0;
}

/* sched_process_fork(parent, child): a child process of a target becomes a target too. */
SEC("raw_tp/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args* ctx) {
  if (!filter_targets) return 0;
  struct task_struct* parent = (struct task_struct*)ctx->args[0];
  struct task_struct* child = (struct task_struct*)ctx->args[1];
  __u32 parent_tgid = BPF_CORE_READ(parent, tgid);
  __u32 child_tgid = BPF_CORE_READ(child, tgid);
  if (child_tgid == parent_tgid || !bpf_map_lookup_elem(&targets, &parent_tgid)) return 0;
  __u8 yes = 1;
  if (bpf_map_update_elem(&targets, &child_tgid, &yes, BPF_ANY) == 0) {
    count_stat(PS_OFF_NEW_TARGETS);
  }
  return 0;
}

/* sched_process_exec: later intervals of the process belong to its new program image. */
SEC("raw_tp/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args* ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (filter_targets && !bpf_map_lookup_elem(&targets, &tgid)) return 0;
  __u64 now = bpf_ktime_get_ns();
  bpf_map_update_elem(&exec_times, &tgid, &now, BPF_ANY);
  /* The old image's mappings are gone: until user space loads the new ones, frame pointers. */
  if (cfi_unwind) bpf_map_delete_elem(&unwind_procs, &tgid);
  return 0;
}
