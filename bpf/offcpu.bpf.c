// SPDX-License-Identifier: GPL-2.0
/* perfscope's off-CPU profiler: on every context switch the thread leaving the CPU stores when it
 * left, in which state and with which kernel and user stacks; when it runs again, the time it was
 * away is added to that (thread, state, stacks) entry of a hash map. User space reads one entry
 * per distinct stack, as the on-CPU program's counts.
 *
 * The counts come in two generations (offcpu_counts0/1): `generation` says which one the program
 * writes; user space flips it every second, lets in-flight programs finish, then reads and empties
 * the other one, so a long system-wide run never fills the map. Stack ids and walked stacks live
 * in maps of one generation only (a start may be stored before a flip and counted after it).
 *
 * sched_switch runs in the context of the thread leaving (prev), so bpf_get_stackid sees its
 * kernel stack (the wait) and its user stack (through the registers saved at kernel entry). With
 * cfi_unwind the user stack is walked from those registers (task_pt_regs) with the .eh_frame
 * tables instead (bpf/unwind_walk.h, the on-CPU program's walker): a wait that starts in a libc
 * system-call wrapper, which keeps no frame pointer, still shows the wrapper's caller. */
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

struct {
  __uint(type, BPF_MAP_TYPE_STACK_TRACE);
  __uint(max_entries, 16384);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, PS_MAX_STACK_DEPTH * sizeof(__u64));
} offcpu_stacks SEC(".maps");

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

/* The thread leaving the CPU: stores its stacks and the time, when it is a target. */
static __always_inline void leave(void* ctx, struct task_struct* prev, __u32 state, __u64 now) {
  __u32 pid = BPF_CORE_READ(prev, pid);
  if (pid == 0) return; /* the idle task */
  __u32 tgid = BPF_CORE_READ(prev, tgid);
  if (filter_targets && !bpf_map_lookup_elem(&targets, &tgid)) return;
  struct ps_offcpu_start start = {0};
  start.time = now;
  start.state = state;
  start.cpu = bpf_get_smp_processor_id();
  start.kernel_stack = PS_NO_STACK;
  start.user_stack = PS_NO_STACK;
  if (kernel_stacks) {
    /* The two innermost frames are this program and bpf_trace_run4, not the thread's. */
    long id = bpf_get_stackid(ctx, &offcpu_stacks, 2 & BPF_F_SKIP_FIELD_MASK);
    if (id < 0) count_stat(PS_OFF_KSTACK_ERROR);
    start.kernel_stack = (__s32)id;
  }
  /* Kernel threads have no user stack. */
  if (BPF_CORE_READ(prev, mm) != 0 && !(cfi_unwind && walk_user_stack(tgid, &start))) {
    long id = bpf_get_stackid(ctx, &offcpu_stacks, BPF_F_USER_STACK);
    if (id < 0) count_stat(PS_OFF_USTACK_ERROR);
    start.user_stack = (__s32)id;
  }
  /* A start still stored: the thread ran again without a switch the program saw. */
  if (bpf_map_lookup_elem(&offcpu_starts, &pid)) count_stat(PS_OFF_UNMATCHED);
  if (bpf_map_update_elem(&offcpu_starts, &pid, &start, BPF_ANY) != 0) {
    count_stat(PS_OFF_STARTS_FULL);
    return;
  }
  count_stat(PS_OFF_SWITCHES);
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

/* The thread taking the CPU: the time since it left goes to its stacks' entry. */
static __always_inline void arrive(struct task_struct* next, __u64 now) {
  __u32 pid = BPF_CORE_READ(next, pid);
  struct ps_offcpu_start* start = bpf_map_lookup_elem(&offcpu_starts, &pid);
  if (!start) return;
  __u64 delta = now - start->time;
  struct ps_offcpu_key key;
  __builtin_memset(&key, 0, sizeof(key));
  key.tgid = BPF_CORE_READ(next, tgid);
  key.pid = pid;
  key.kernel_stack = start->kernel_stack;
  key.user_stack = start->user_stack;
  key.user_hash = start->user_hash;
  key.state = start->state;
  bpf_map_delete_elem(&offcpu_starts, &pid);
  if (delta < min_block_ns) {
    count_stat(PS_OFF_SHORT);
    return;
  }
  BPF_CORE_READ_STR_INTO(&key.comm, next, comm);
  __u64* exec_time = bpf_map_lookup_elem(&exec_times, &key.tgid);
  if (exec_time) key.exec_time = *exec_time;
  if (generation & 1) {
    count(&offcpu_counts1, &key, delta);
  } else {
    count(&offcpu_counts0, &key, delta);
  }
}

/* sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next,
 *              unsigned int prev_state), kernels 5.18 and later. */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct* prev, struct task_struct* next,
             unsigned int prev_state) {
  __u64 now = bpf_ktime_get_ns();
  if (!(prev_state & PS_TASK_DEAD)) leave(ctx, prev, state_of(preempt, prev_state), now);
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
