/* The in-kernel native unwinder (issue 18), shared by the on-CPU sampling program
 * (bpf/profile.bpf.c) and the off-CPU sched_switch program (bpf/offcpu.bpf.c): the maps user space
 * fills with compiled .eh_frame tables (src/bpf/unwind_tables.cpp), and the walk over them.
 *
 * The includer defines, before including this header:
 *   PS_WALK_FP_FRAMES, PS_WALK_CFI_FRAMES, PS_WALK_PENDING: slots of its own per-CPU counters, and
 *   static void ps_walk_count(__u32 slot): adds one to such a slot.
 * Each object has its own copy of these maps; user space makes the off-CPU object use the on-CPU
 * object's table maps (bpf_map__reuse_fd) when both run, so each file's table is loaded once. The
 * walk's scratch state and stop counters stay per object. */
#ifndef PERFSCOPE_BPF_UNWIND_WALK_H
#define PERFSCOPE_BPF_UNWIND_WALK_H

#include "unwind_abi.h"

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
  ps_walk_count(PS_WALK_FP_FRAMES);
  return 0;
}

/* A leaf that has pushed nothing: the return address at rsp, when it points into a mapping of the
 * process. Returns 0 and moves `st` to the caller, or -1. */
static __always_inline int leaf_return_step(struct walk_ctx* c) {
  struct walk_state* st = c->st;
  __u64 ra;
  if (bpf_probe_read_user(&ra, sizeof(ra), (void*)st->sp) != 0 || ra == 0) return -1;
  if (find_mapping(c->proc, ra - 1) < 0) return -1;
  st->ip = ra;
  st->sp += 8;
  st->exact_ip = 0;
  ps_walk_count(PS_WALK_CFI_FRAMES);
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
      ps_walk_count(PS_WALK_CFI_FRAMES);
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
      /* No CFI covers the pc. At the leaf that is usually a system-call stub written in assembly
       * that ends its FDE before the syscall (glibc's clone, "because in the child the unwind
       * info will be wrong") and has pushed nothing: its return address is at rsp. Elsewhere,
       * or when rsp holds no code address, the frame pointer when rbp looks like one. */
      if (depth == 0 && st->exact_ip && leaf_return_step(c) == 0) return 0;
      if (frame_pointer_step(st) == 0) return 0;
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
  ps_walk_count(PS_WALK_CFI_FRAMES);
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

/* The executable mappings of `tgid` to walk with, or null when user space has not loaded them yet
 * (it is asked to: the caller uses frame pointers meanwhile) or they give nothing to walk with. */
static __always_inline struct ps_proc_unwind* ps_unwind_proc(__u32 tgid) {
  struct ps_proc_unwind* proc = bpf_map_lookup_elem(&unwind_procs, &tgid);
  if (!proc) {
    __u8 yes = 1;
    bpf_map_update_elem(&unwind_wanted, &tgid, &yes, BPF_NOEXIST);
    ps_walk_count(PS_WALK_PENDING);
    return 0;
  }
  if (proc->count == 0) return 0; /* nothing to walk with: frame pointers */
  return proc;
}

/* The per-CPU walk state, started at the user registers ip, sp, bp (the leaf's exact pc). */
static __always_inline struct walk_state* ps_walk_begin(__u64 ip, __u64 sp, __u64 bp) {
  __u32 zero = 0;
  struct walk_state* st = bpf_map_lookup_elem(&walk_scratch, &zero);
  if (!st) return 0;
  st->ip = ip;
  st->sp = sp;
  st->bp = bp;
  st->hash = 0xcbf29ce484222325ULL;
  st->exact_ip = 1;
  st->last_table = PS_NO_TABLE;
  st->stack.depth = 0;
  st->stack.reason = PS_STOP_TOO_DEEP;
  return st;
}

/* Walks from `st` into st->stack. Returns the stack's key (a hash of its frames and depth), or 0
 * when the walk could not run. */
static __always_inline __u64 ps_walk(struct walk_state* st, struct ps_proc_unwind* proc,
                                     __u32 tgid) {
  struct walk_ctx c = {st, proc, bpf_ktime_get_ns(), tgid};
  long n = bpf_loop(PS_MAX_WALK_DEPTH + 1, walk_step, &c, 0);
  if (n < 0) return 0;
  __u64 hash = st->hash ^ st->stack.depth;
  return hash ? hash : 1;
}

#endif
