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
#include "unwind_abi.h"

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

/* ---- The native unwinder: user stacks from compiled .eh_frame tables ----------------------- */

/* One table per file: an array of rows sorted by pc, created by user space with the exact size
 * (BPF_F_INNER_MAP lets inner arrays differ in max_entries). */
struct row_table {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(map_flags, BPF_F_INNER_MAP);
  __uint(max_entries, 1);
  __uint(key_size, sizeof(__u32));
  __uint(value_size, sizeof(struct ps_kernel_row));
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
  __uint(max_entries, PS_MAX_TABLES);
  __type(key, __u32);
  __array(values, struct row_table);
} unwind_tables SEC(".maps");

/* tgid -> its executable mappings. Written by user space when a process is first sampled (see
 * `unwind_wanted`) and again when it maps new code. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __uint(max_entries, 8192);
  __type(key, __u32);
  __type(value, struct ps_proc_unwind);
} unwind_procs SEC(".maps");

/* Processes sampled before their tables were loaded: user space loads them and deletes the key. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u8);
} unwind_wanted SEC(".maps");

/* When each table was last used (bpf_ktime_get_ns), for evicting the least recently sampled. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, PS_MAX_TABLES);
  __type(key, __u32);
  __type(value, __u64);
} table_last_use SEC(".maps");

/* Walks ended, per reason (per CPU), and per (table, reason) for the walks that stopped early. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PS_STOP_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} stop_reasons SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, struct ps_stop_key);
  __type(value, __u64);
} stops_by_table SEC(".maps");

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

/* The walk's state, per CPU (too big for the 512-byte BPF stack). */
struct walk_state {
  __u64 ip, sp, bp;
  __u64 hash;
  __u32 exact_ip; /* the ip is where execution stopped (the leaf, or a signal's interrupted
                   * frame), not a return address: look it up as is, not ip - 1 */
  __u32 last_table;
  struct ps_user_stack stack;
};

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct walk_state);
} walk_scratch SEC(".maps");

struct walk_ctx {
  struct walk_state* st;
  struct ps_proc_unwind* proc;
  __u64 now;
  __u32 tgid;
};

#define PS_MAPPING_SEARCH_STEPS 9 /* log2(PS_MAX_MAPPINGS) + 1 */
#define PS_ROW_SEARCH_STEPS 25    /* tables of up to 16M rows */

/* The binary searches run as bpf_loop callbacks: the verifier checks one step instead of every
 * path through an unrolled loop (2^steps of them). */
struct search {
  void* map; /* the table (rows), or null for the mappings */
  struct ps_proc_unwind* proc;
  __u64 key;
  __u32 lo, hi; /* the answer is the last element <= key: lo - 1 when the search ends */
  __u32 failed;
};

static long mapping_search_step(__u32 index, void* data) {
  struct search* s = data;
  if (s->lo >= s->hi) return 1;
  __u32 mid = (s->lo + s->hi) / 2;
  if (mid >= PS_MAX_MAPPINGS) {
    s->failed = 1;
    return 1;
  }
  if (s->key < s->proc->mappings[mid].start) {
    s->hi = mid;
  } else {
    s->lo = mid + 1;
  }
  return 0;
}

static long row_search_step(__u32 index, void* data) {
  struct search* s = data;
  if (s->lo >= s->hi) return 1;
  __u32 mid = (s->lo + s->hi) / 2;
  struct ps_kernel_row* row = bpf_map_lookup_elem(s->map, &mid);
  if (!row) {
    s->failed = 1;
    return 1;
  }
  if ((__u32)s->key < row->pc) {
    s->hi = mid;
  } else {
    s->lo = mid + 1;
  }
  return 0;
}

/* The mapping holding `pc`, or -1. */
static __always_inline int find_mapping(struct ps_proc_unwind* proc, __u64 pc) {
  struct search s = {0};
  s.proc = proc;
  s.key = pc;
  s.hi = proc->count < PS_MAX_MAPPINGS ? proc->count : PS_MAX_MAPPINGS;
  bpf_loop(PS_MAPPING_SEARCH_STEPS, mapping_search_step, &s, 0);
  /* lo is the first mapping starting above pc: the one before it may hold pc. */
  if (s.failed || s.lo == 0) return -1;
  __u32 at = s.lo - 1;
  if (at >= PS_MAX_MAPPINGS) return -1;
  if (pc >= proc->mappings[at].end) return -1;
  return (int)at;
}

/* The last row with row.pc <= vaddr, or null. */
static __always_inline struct ps_kernel_row* find_row(void* table, __u32 rows, __u32 vaddr) {
  struct search s = {0};
  s.map = table;
  s.key = vaddr;
  s.hi = rows;
  bpf_loop(PS_ROW_SEARCH_STEPS, row_search_step, &s, 0);
  if (s.failed || s.lo == 0) return 0;
  __u32 at = s.lo - 1;
  return bpf_map_lookup_elem(table, &at);
}

static __always_inline void count_stop(struct walk_state* st, __u32 reason) {
  st->stack.reason = reason;
  __u64* v = bpf_map_lookup_elem(&stop_reasons, &reason);
  if (v) *v += 1;
  if (reason <= PS_STOP_ZERO_RA) return;
  struct ps_stop_key key = {st->last_table & ~PS_TABLE_PENDING, reason};
  v = bpf_map_lookup_elem(&stops_by_table, &key);
  if (v) {
    __sync_fetch_and_add(v, 1);
  } else {
    __u64 one = 1;
    bpf_map_update_elem(&stops_by_table, &key, &one, BPF_NOEXIST);
  }
}

/* Follows the frame-pointer chain one frame (code without CFI: JIT, hand-written assembly).
 * Returns 0 and moves `st` to the caller, or -1 when rbp does not look like a frame. */
static __always_inline int frame_pointer_step(struct walk_state* st) {
  __u64 bp = st->bp;
  if (bp < st->sp || bp - st->sp > (8u << 20) || (bp & 7)) return -1;
  __u64 frame[2];
  if (bpf_probe_read_user(frame, sizeof(frame), (void*)bp) != 0) return -1;
  if (frame[1] == 0) return -1;
  st->ip = frame[1];
  st->sp = bp + 16;
  st->bp = frame[0];
  st->exact_ip = 0;
  count_stat(PS_STAT_FP_FRAMES);
  return 0;
}

/* One frame: records the current pc, then moves the state to the caller. Returns 1 to stop. */
static long walk_step(__u32 index, void* data) {
  struct walk_ctx* c = data;
  struct walk_state* st = c->st;
  __u32 depth = st->stack.depth;
  if (depth >= PS_MAX_WALK_DEPTH) {
    count_stop(st, PS_STOP_TOO_DEEP);
    return 1;
  }
  st->stack.pcs[depth] = st->ip;
  st->stack.depth = depth + 1;
  st->hash = (st->hash ^ st->ip) * 0x100000001b3ULL;

  __u64 pc = st->exact_ip ? st->ip : st->ip - 1;
  int m = find_mapping(c->proc, pc);
  if (m < 0 || m >= PS_MAX_MAPPINGS) {
    st->last_table = PS_NO_TABLE;
    if (frame_pointer_step(st) == 0) return 0;
    count_stop(st, PS_STOP_OUTSIDE);
    return 1;
  }
  struct ps_exec_mapping* map = &c->proc->mappings[m];
  __u32 table_id = map->table;
  st->last_table = table_id;
  if (table_id != PS_NO_TABLE && (table_id & PS_TABLE_PENDING)) {
    /* A file with CFI whose table is not ready: its code most likely keeps no frame pointer, so
     * following rbp would invent frames. Stop; the next samples will have it. */
    count_stop(st, PS_STOP_PENDING);
    return 1;
  }
  if (table_id == PS_NO_TABLE || map->rows == 0) {
    if (frame_pointer_step(st) == 0) return 0;
    count_stop(st, PS_STOP_NO_TABLE);
    return 1;
  }
  void* table = bpf_map_lookup_elem(&unwind_tables, &table_id);
  if (!table) {
    /* Evicted (memory limit): ask user space to load it again, evicting a less recent one. */
    __u8 yes = 1;
    bpf_map_update_elem(&unwind_wanted, &c->tgid, &yes, BPF_NOEXIST);
    count_stop(st, PS_STOP_EVICTED);
    return 1;
  }
  __u64* last_use = bpf_map_lookup_elem(&table_last_use, &table_id);
  if (last_use && *last_use != c->now) *last_use = c->now;

  struct ps_kernel_row row = {0};
  struct ps_kernel_row* found = find_row(table, map->rows, (__u32)(pc - map->bias));
  if (found) row = *found;
  __u8 cfa_kind = row.kinds & 15;
  __u64 cfa;
  switch (cfa_kind) {
    case PS_CFA_RSP:
      cfa = st->sp + (__s64)row.cfa8 * 8;
      break;
    case PS_CFA_RBP:
      cfa = st->bp + (__s64)row.cfa8 * 8;
      break;
    case PS_CFA_PLT:
      cfa = st->sp + 8 + (((st->ip & 15) >= (__u64)row.cfa8) ? 8 : 0);
      break;
    case PS_CFA_SIGNAL: {
      /* rt_sigframe: the ucontext's sigcontext is at rsp + 40; rbp, rsp, rip at +80, +120, +128
       * within it. The interrupted pc is exact. */
      __u64 regs[7];
      if (bpf_probe_read_user(regs, sizeof(regs), (void*)(st->sp + 120)) != 0) {
        count_stop(st, PS_STOP_READ_FAULT);
        return 1;
      }
      st->bp = regs[0];
      st->sp = regs[5];
      st->ip = regs[6];
      st->exact_ip = 1;
      count_stat(PS_STAT_CFI_FRAMES);
      if (st->ip == 0) {
        count_stop(st, PS_STOP_ZERO_RA);
        return 1;
      }
      return 0;
    }
    case PS_CFA_END:
      count_stop(st, PS_STOP_END);
      return 1;
    case PS_CFA_UNSUPPORTED:
      count_stop(st, PS_STOP_UNSUPPORTED);
      return 1;
    default:
      count_stop(st, PS_STOP_NO_ROW);
      return 1;
  }
  __u64 ra;
  if (bpf_probe_read_user(&ra, sizeof(ra), (void*)(cfa - 8)) != 0) {
    count_stop(st, PS_STOP_READ_FAULT);
    return 1;
  }
  if ((row.kinds >> 4) == PS_RBP_AT_CFA) {
    __u64 bp;
    if (bpf_probe_read_user(&bp, sizeof(bp), (void*)(cfa + (__s64)row.rbp8 * 8)) != 0) {
      count_stop(st, PS_STOP_READ_FAULT);
      return 1;
    }
    st->bp = bp;
  }
  count_stat(PS_STAT_CFI_FRAMES);
  if (ra == 0) {
    count_stop(st, PS_STOP_ZERO_RA);
    return 1;
  }
  if (cfa <= st->sp) {
    count_stop(st, PS_STOP_BAD_FRAME);
    return 1;
  }
  st->sp = cfa;
  st->ip = ra;
  st->exact_ip = 0;
  return 0;
}

/* Walks the current task's user stack into `ustacks` and points the key at it. Returns false
 * when the process has no tables yet (the caller uses frame pointers). */
static __always_inline bool walk_user_stack(struct bpf_perf_event_data* ctx,
                                            struct ps_count_key* key, void* ustacks) {
  struct ps_proc_unwind* proc = bpf_map_lookup_elem(&unwind_procs, &key->tgid);
  if (!proc) {
    __u8 yes = 1;
    bpf_map_update_elem(&unwind_wanted, &key->tgid, &yes, BPF_NOEXIST);
    count_stat(PS_STAT_CFI_PENDING);
    return false;
  }
  if (proc->count == 0) return false; /* nothing to walk with: frame pointers */
  __u32 zero = 0;
  struct walk_state* st = bpf_map_lookup_elem(&walk_scratch, &zero);
  if (!st) return false;
  /* The user registers: the sample's own when it interrupted user mode, else those saved when
   * the task entered the kernel. */
  if ((ctx->regs.cs & 3) == 3) {
    st->ip = ctx->regs.rip;
    st->sp = ctx->regs.rsp;
    st->bp = ctx->regs.rbp;
  } else {
    struct task_struct* task = bpf_get_current_task_btf();
    struct pt_regs___kernel* regs = (struct pt_regs___kernel*)bpf_task_pt_regs(task);
    st->ip = BPF_CORE_READ(regs, ip);
    st->sp = BPF_CORE_READ(regs, sp);
    st->bp = BPF_CORE_READ(regs, bp);
  }
  st->hash = 0xcbf29ce484222325ULL;
  st->exact_ip = 1;
  st->last_table = PS_NO_TABLE;
  st->stack.depth = 0;
  st->stack.reason = PS_STOP_TOO_DEEP;
  struct walk_ctx c = {st, proc, bpf_ktime_get_ns(), key->tgid};
  long n = bpf_loop(PS_MAX_WALK_DEPTH + 1, walk_step, &c, 0);
  if (n < 0) return false;
  count_stat(PS_STAT_CFI_STACKS);
  __u64 hash = st->hash ^ st->stack.depth;
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
