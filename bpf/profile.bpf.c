// SPDX-License-Identifier: GPL-2.0
/* perfscope's in-kernel CPU profiler: a perf_event program counts samples per (process, thread,
 * CPU, program image, kernel stack, user stack) in a hash map, so user space reads one entry per
 * distinct stack instead of one record per sample.
 *
 * Maps come in two generations (counts0/stacks0, counts1/stacks1). `generation` says which one the
 * programs write; user space flips it, lets in-flight programs finish, then reads and clears the
 * other one. A key's stack ids always refer to the stack map of its own generation, so clearing a
 * drained generation never leaves a key pointing at a reused stack id. */
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <linux/errno.h>
#include <stdbool.h>

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kernel_types.h"
#include "profile_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Knobs, set by user space before load. */
const volatile bool filter_targets = false; /* only processes in `targets` (and their children) */
const volatile bool kernel_stacks = true;
const volatile bool skip_idle = false;  /* leave out samples of the idle task (pid 0) */
const volatile bool cfi_unwind = false; /* walk user stacks with the unwind tables (issue 18) */

/* Which generation the programs write; flipped by user space. */
volatile __u32 generation = 0;

#define COUNTS_MAP(name)                  \
  struct {                                \
    __uint(type, BPF_MAP_TYPE_HASH);      \
    __uint(max_entries, 16384);           \
    __type(key, struct ps_count_key);     \
    __type(value, struct ps_count_value); \
  } name SEC(".maps")

#define STACKS_MAP(name)                                    \
  struct {                                                  \
    __uint(type, BPF_MAP_TYPE_STACK_TRACE);                 \
    __uint(max_entries, 16384);                             \
    __uint(key_size, sizeof(__u32));                        \
    __uint(value_size, PS_MAX_STACK_DEPTH * sizeof(__u64)); \
  } name SEC(".maps")

COUNTS_MAP(counts0);
COUNTS_MAP(counts1);
STACKS_MAP(stacks0);
STACKS_MAP(stacks1);

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PS_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* Processes to sample when filter_targets: the targets user space named, then their children. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u8);
} targets SEC(".maps");

/* tgid -> CLOCK_MONOTONIC time of its last exec during the recording. */
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);
  __type(value, __u64);
} exec_times SEC(".maps");

static __always_inline void count_stat(__u32 slot) {
  __u64* v = bpf_map_lookup_elem(&stats, &slot);
  if (v) *v += 1;
}

/* The native unwinder: user stacks from compiled .eh_frame tables. */
#define PS_WALK_FP_FRAMES PS_STAT_FP_FRAMES
#define PS_WALK_CFI_FRAMES PS_STAT_CFI_FRAMES
#define PS_WALK_PENDING PS_STAT_CFI_PENDING
#define ps_walk_count count_stat
#include "unwind_walk.h"

#define USTACKS_MAP(name)                 \
  struct {                                \
    __uint(type, BPF_MAP_TYPE_HASH);      \
    __uint(map_flags, BPF_F_NO_PREALLOC); \
    __uint(max_entries, 16384);           \
    __type(key, __u64);                   \
    __type(value, struct ps_user_stack);  \
  } name SEC(".maps")

USTACKS_MAP(ustacks0);
USTACKS_MAP(ustacks1);

/* Walks the current task's user stack into `ustacks` and points the key at it. Returns false
 * when the process has no tables yet (the caller uses frame pointers). */
static __always_inline bool walk_user_stack(struct bpf_perf_event_data* ctx,
                                            struct ps_count_key* key, void* ustacks) {
  struct ps_proc_unwind* proc = ps_unwind_proc(key->tgid);
  if (!proc) return false;
  /* The user registers: the sample's own when it interrupted user mode, else those saved when
   * the task entered the kernel. */
  struct walk_state* st;
  if ((ctx->regs.cs & 3) == 3) {
    st = ps_walk_begin(ctx->regs.rip, ctx->regs.rsp, ctx->regs.rbp);
  } else {
    struct task_struct* task = bpf_get_current_task_btf();
    struct pt_regs___kernel* regs = (struct pt_regs___kernel*)bpf_task_pt_regs(task);
    st = ps_walk_begin(BPF_CORE_READ(regs, ip), BPF_CORE_READ(regs, sp), BPF_CORE_READ(regs, bp));
  }
  if (!st) return false;
  __u64 hash = ps_walk(st, proc, key->tgid);
  if (!hash) return false;
  count_stat(PS_STAT_CFI_STACKS);
  key->user_stack = PS_CFI_STACK;
  key->user_hash = hash;
  long err = bpf_map_update_elem(ustacks, &hash, &st->stack, BPF_NOEXIST);
  if (err && err != -EEXIST) {
    count_stat(PS_STAT_USTACKS_FULL);
    key->user_stack = -ENOMEM;
    key->user_hash = 0;
  }
  return true;
}

static __always_inline int stack_id(struct bpf_perf_event_data* ctx, void* stacks, __u64 flags,
                                    __u32 collision_slot, __u32 error_slot,
                                    bool user_space_sample_ok) {
  long id = bpf_get_stackid(ctx, stacks, flags);
  if (id >= 0) return (int)id;
  if (id == -EEXIST) {
    count_stat(collision_slot);
  } else if (!(id == -EFAULT && user_space_sample_ok)) {
    count_stat(error_slot);
  }
  return (int)id;
}

static __always_inline int record(struct bpf_perf_event_data* ctx, struct ps_count_key* key,
                                  void* counts, void* stacks, void* ustacks, bool has_user_space) {
  key->kernel_stack = PS_NO_STACK;
  key->user_stack = PS_NO_STACK;
  /* -EFAULT for the kernel stack just means the sample hit user space: no kernel frames. */
  if (kernel_stacks) {
    key->kernel_stack =
        stack_id(ctx, stacks, 0, PS_STAT_KSTACK_COLLISION, PS_STAT_KSTACK_ERROR, true);
  }
  if (has_user_space && !(cfi_unwind && walk_user_stack(ctx, key, ustacks))) {
    key->user_stack = stack_id(ctx, stacks, BPF_F_USER_STACK, PS_STAT_USTACK_COLLISION,
                               PS_STAT_USTACK_ERROR, false);
  }
  __u64 period = ctx->sample_period;
  struct ps_count_value* value = bpf_map_lookup_elem(counts, key);
  if (value) {
    __sync_fetch_and_add(&value->count, 1);
    __sync_fetch_and_add(&value->period, period);
  } else {
    struct ps_count_value first = {1, period};
    long err = bpf_map_update_elem(counts, key, &first, BPF_NOEXIST);
    if (err == -EEXIST) { /* another CPU inserted the same key meanwhile */
      value = bpf_map_lookup_elem(counts, key);
      if (value) {
        __sync_fetch_and_add(&value->count, 1);
        __sync_fetch_and_add(&value->period, period);
      }
    } else if (err) {
      count_stat(PS_STAT_COUNTS_FULL);
      return 0;
    }
  }
  count_stat(PS_STAT_SAMPLES);
  return 0;
}

SEC("perf_event")
int on_sample(struct bpf_perf_event_data* ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  __u32 pid = (__u32)id;
  if (pid == 0 && skip_idle) {
    count_stat(PS_STAT_IDLE);
    return 0;
  }
  if (filter_targets && !bpf_map_lookup_elem(&targets, &tgid)) {
    count_stat(PS_STAT_FILTERED);
    return 0;
  }
  struct ps_count_key key;
  __builtin_memset(&key, 0, sizeof(key));
  key.tgid = tgid;
  key.pid = pid;
  key.cpu = bpf_get_smp_processor_id();
  bpf_get_current_comm(key.comm, sizeof(key.comm));
  __u64* exec_time = bpf_map_lookup_elem(&exec_times, &tgid);
  if (exec_time) key.exec_time = *exec_time;
  /* Kernel threads (no mm) and the idle task have no user space to walk. */
  struct task_struct* task = (struct task_struct*)bpf_get_current_task();
  bool has_user_space = pid != 0 && BPF_CORE_READ(task, mm) != 0;
  if (generation & 1) return record(ctx, &key, &counts1, &stacks1, &ustacks1, has_user_space);
  return record(ctx, &key, &counts0, &stacks0, &ustacks0, has_user_space);
}

/* sched_process_fork(struct task_struct *parent, struct task_struct *child): a child process of a
 * target becomes a target too. New threads share their process's tgid and need nothing. */
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
    count_stat(PS_STAT_NEW_TARGETS);
  }
  return 0;
}

/* sched_process_exec: the process now runs a new program image; later samples say so. */
SEC("raw_tp/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args* ctx) {
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  if (filter_targets && !bpf_map_lookup_elem(&targets, &tgid)) return 0;
  __u64 now = bpf_ktime_get_ns();
  bpf_map_update_elem(&exec_times, &tgid, &now, BPF_ANY);
  /* The old image's mappings are gone: until user space loads the new ones, frame pointers. */
  if (cfi_unwind) bpf_map_delete_elem(&unwind_procs, &tgid);
  count_stat(PS_STAT_EXECS);
  return 0;
}
