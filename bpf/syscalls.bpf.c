// SPDX-License-Identifier: GPL-2.0
/* perfscope's in-kernel syscall summary: raw_syscalls sys_enter/sys_exit (as raw tracepoints)
 * time every call of the chosen processes and add it to a per-CPU hash of (process, thread,
 * syscall) rows: calls, errors by errno, wall and on-CPU time, min, max and a log2 latency
 * histogram. User space reads the maps once, at the end; nothing per call crosses to it.
 *
 * On-CPU time is the wall time of the call less the time its thread spent switched out
 * (sched_switch), which is what `strace -c` reports by default as "system time". */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <stdbool.h>

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "kernel_types.h"
#include "syscalls_abi.h"

char LICENSE[] SEC("license") = "GPL";

/* Knobs, set by user space before load. */
const volatile bool filter_targets = false; /* only processes in `targets` */
const volatile bool follow_children = true; /* children of targets become targets */
const volatile __u32 by = PS_SC_BY_SYSCALL;
const volatile __u32 self_tgid = 0;     /* perfscope itself, left out system-wide */
const volatile __s32 sigreturn_nr = -1; /* its return value is a restored register, not an error */
const volatile __s32 execve_nr = -1;
const volatile __s32 execveat_nr = -1;

/* User space sizes the two hashes and, on Linux 6.1 and later, has them grow as rows appear
 * (syscall_tracer.cpp). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct ps_sc_key);
  __type(value, struct ps_sc_value);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, 16384);
  __type(key, struct ps_sc_error_key);
  __type(value, __u64);
} errors SEC(".maps");

/* Calls in flight, one slot per thread id modulo PS_SC_INFLIGHT_SLOTS: an array lookup is far
 * cheaper than a hash insert and delete per call. The slot holds its thread id, so two threads
 * that share a slot while both are in a call are told apart (the later entry wins; the earlier
 * call is still counted, by the number its registers hold, but not timed). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, PS_SC_INFLIGHT_SLOTS);
  __type(key, __u32);
  __type(value, struct ps_sc_inflight);
} inflight SEC(".maps");

/* Rows per syscall number when not split by process or thread: an array, no hashing. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PS_SC_MAX_NR);
  __type(key, __u32);
  __type(value, struct ps_sc_value);
} counts_by_nr SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 16384);
  __type(key, __u32);  /* tgid */
  __type(value, __u8); /* PS_SC_TARGET_* */
} targets SEC(".maps");

/* The processes of `targets` that count now (PS_SC_TARGET_ACTIVE), one bit per tgid. Every
 * system call on the machine asks whether its process is followed; an array lookup answers in a
 * few instructions; the hash lookup it replaces cost about 100 ns a call on the benchmark VM.
 * `targets` stays the set user space reads. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, PS_SC_ACTIVE_WORDS);
  __type(key, __u32);
  __type(value, __u64);
} active_bits SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, PS_SC_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* The zero value new rows start from (too large for the BPF stack). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct ps_sc_value);
} zero_value SEC(".maps");

static __always_inline void count_stat(__u32 slot) {
  __u64* v = bpf_map_lookup_elem(&stats, &slot);
  if (v) *v += 1;
}

static __always_inline __u32 log2_bucket(__u64 v) {
  __u32 r = 0;
  if (v >> 32) {
    v >>= 32;
    r += 32;
  }
  if (v >> 16) {
    v >>= 16;
    r += 16;
  }
  if (v >> 8) {
    v >>= 8;
    r += 8;
  }
  if (v >> 4) {
    v >>= 4;
    r += 4;
  }
  if (v >> 2) {
    v >>= 2;
    r += 2;
  }
  if (v >> 1) {
    r += 1;
  }
  return r < PS_SC_HIST_BUCKETS ? r : PS_SC_HIST_BUCKETS - 1;
}

#if defined(__TARGET_ARCH_x86)
/* The syscall number as the exit path sees it (x86-64 keeps it in orig_ax). */
struct pt_regs___ps {
  unsigned long orig_ax;
} __attribute__((preserve_access_index));
static __always_inline long regs_syscall_nr(void* regs) {
  return (long)BPF_CORE_READ((struct pt_regs___ps*)regs, orig_ax);
}
#else
static __always_inline long regs_syscall_nr(void* regs) {
  return -1;
}
#endif

static __always_inline bool is_active(__u32 tgid) {
  __u32 word = tgid / 64;
  __u64* bits = bpf_map_lookup_elem(&active_bits, &word);
  return bits && (*bits & (1ULL << (tgid % 64))) != 0;
}

/* Atomic: forks on two CPUs may set bits of one word at the same moment. */
static __always_inline void set_active(__u32 tgid, bool active) {
  __u32 word = tgid / 64;
  __u64* bits = bpf_map_lookup_elem(&active_bits, &word);
  if (!bits) return;
  if (active) {
    __sync_fetch_and_or(bits, 1ULL << (tgid % 64));
  } else {
    __sync_fetch_and_and(bits, ~(1ULL << (tgid % 64)));
  }
}

static __always_inline struct ps_sc_inflight* slot_of(__u32 tid) {
  __u32 slot = tid & (PS_SC_INFLIGHT_SLOTS - 1);
  return bpf_map_lookup_elem(&inflight, &slot);
}

/* sys_enter(struct pt_regs *regs, long id) */
SEC("raw_tp/sys_enter")
int on_sys_enter(struct bpf_raw_tracepoint_args* ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  __u32 tid = (__u32)id;
  long nr = (long)ctx->args[1];
  if (nr < 0) return 0;
  if (filter_targets && !is_active(tgid)) {
    /* Not counting, unless it is a held command's execve (rare enough for the hash). */
    if (nr != execve_nr && nr != execveat_nr) return 0;
    if (!bpf_map_lookup_elem(&targets, &tgid)) return 0;
  } else if (!filter_targets && tgid == self_tgid) {
    return 0;
  }
  struct ps_sc_inflight* call = slot_of(tid);
  if (!call) return 0;
  if (call->tid != 0 && call->tid != tid) count_stat(PS_SC_STAT_UNTIMED);
  call->start_ns = bpf_ktime_get_ns();
  call->off_cpu_ns = 0;
  call->switched_out_ns = 0;
  call->nr = (__s32)nr;
  call->tid = tid;
  return 0;
}

static __always_inline struct ps_sc_value* row_of(struct ps_sc_key* key) {
  if (by == PS_SC_BY_SYSCALL) {
    __u32 nr = (__u32)key->nr;
    return bpf_map_lookup_elem(&counts_by_nr, &nr);
  }
  struct ps_sc_value* v = bpf_map_lookup_elem(&counts, key);
  if (v) return v;
  __u32 zero = 0;
  struct ps_sc_value* init = bpf_map_lookup_elem(&zero_value, &zero);
  if (!init) return 0;
  bpf_map_update_elem(&counts, key, init, BPF_NOEXIST);
  v = bpf_map_lookup_elem(&counts, key);
  if (!v) count_stat(PS_SC_STAT_COUNTS_FULL);
  return v;
}

/* sys_exit(struct pt_regs *regs, long ret) */
SEC("raw_tp/sys_exit")
int on_sys_exit(struct bpf_raw_tracepoint_args* ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  __u32 tid = (__u32)id;
  struct ps_sc_inflight* call = slot_of(tid);
  if (!call) return 0;
  __u64 wall = 0, off = 0;
  bool timed = false;
  long nr;
  if (call->tid == tid) {
    wall = bpf_ktime_get_ns() - call->start_ns;
    off = call->off_cpu_ns;
    nr = call->nr;
    timed = true;
    call->tid = 0;
  } else {
    /* Not entered while counting (most calls of other processes end here, cheaply), or the slot
     * was taken by another thread since. */
    if (call->tid == 0) return 0;
    if (filter_targets) {
      if (!bpf_map_lookup_elem(&targets, &tgid)) return 0;
    } else if (tgid == self_tgid) {
      return 0;
    }
    nr = regs_syscall_nr((void*)ctx->args[0]);
  }
  if (nr < 0 || nr >= PS_SC_MAX_NR) {
    count_stat(PS_SC_STAT_UNKNOWN_NR);
    return 0;
  }
  long ret = (long)ctx->args[1];
  if (filter_targets && (nr == execve_nr || nr == execveat_nr)) {
    /* A held command's failed execve (perfscope's own PATH search) is not the command's. */
    __u8* state = bpf_map_lookup_elem(&targets, &tgid);
    if (state && *state == PS_SC_TARGET_AWAIT_EXEC) return 0;
  }

  struct ps_sc_key key = {};
  key.nr = (__s32)nr;
  if (by == PS_SC_BY_THREAD) {
    key.tgid = tgid;
    key.tid = tid;
    bpf_get_current_comm(key.comm, sizeof(key.comm));
  } else if (by == PS_SC_BY_PROCESS) {
    /* The process's name is its main thread's: threads that name themselves ("GC Thread#0")
     * must not split the process's rows. */
    key.tgid = tgid;
    struct task_struct* task = (struct task_struct*)bpf_get_current_task();
    struct task_struct* leader = BPF_CORE_READ(task, group_leader);
    BPF_CORE_READ_STR_INTO(&key.comm, leader, comm);
  }
  struct ps_sc_value* v = row_of(&key);
  if (!v) return 0;
  /* Per-CPU values: only this CPU writes them, no atomics needed. */
  v->calls += 1;
  if (timed) {
    v->wall_ns += wall;
    v->cpu_ns += off < wall ? wall - off : 0;
    if (v->calls - v->untimed == 1 || wall < v->min_ns) v->min_ns = wall;
    if (wall > v->max_ns) v->max_ns = wall;
    __u32 b = log2_bucket(wall);
    if (b < PS_SC_HIST_BUCKETS) v->hist[b] += 1;
  } else {
    v->untimed += 1;
  }
  count_stat(PS_SC_STAT_CALLS);
  if (ret < 0 && ret >= -4095 && nr != sigreturn_nr) {
    v->errors += 1;
    struct ps_sc_error_key ek = {};
    ek.row = key;
    ek.err = (__s32)-ret;
    __u64* n = bpf_map_lookup_elem(&errors, &ek);
    if (n) {
      *n += 1;
    } else {
      __u64 one = 1;
      if (bpf_map_update_elem(&errors, &ek, &one, BPF_NOEXIST) != 0) {
        n = bpf_map_lookup_elem(&errors, &ek);
        if (n)
          *n += 1;
        else
          count_stat(PS_SC_STAT_ERRORS_FULL);
      }
    }
  }
  return 0;
}

/* sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, ...): time a
 * thread inside a syscall spends off its CPU is not on-CPU time. */
SEC("raw_tp/sched_switch")
int on_sched_switch(struct bpf_raw_tracepoint_args* ctx) {
  struct task_struct* prev = (struct task_struct*)ctx->args[1];
  struct task_struct* next = (struct task_struct*)ctx->args[2];
  __u32 prev_tid = BPF_CORE_READ(prev, pid);
  __u32 next_tid = BPF_CORE_READ(next, pid);
  __u64 now = 0;
  if (prev_tid != 0) {
    struct ps_sc_inflight* call = slot_of(prev_tid);
    if (call && call->tid == prev_tid) {
      now = bpf_ktime_get_ns();
      call->switched_out_ns = now;
    }
  }
  if (next_tid != 0) {
    struct ps_sc_inflight* call = slot_of(next_tid);
    if (call && call->tid == next_tid && call->switched_out_ns != 0) {
      if (now == 0) now = bpf_ktime_get_ns();
      call->off_cpu_ns += now - call->switched_out_ns;
      call->switched_out_ns = 0;
    }
  }
  return 0;
}

/* sched_process_fork(struct task_struct *parent, struct task_struct *child): a child process of
 * a target becomes a target. New threads share their process's tgid and need nothing. */
SEC("raw_tp/sched_process_fork")
int on_fork(struct bpf_raw_tracepoint_args* ctx) {
  if (!filter_targets || !follow_children) return 0;
  struct task_struct* parent = (struct task_struct*)ctx->args[0];
  struct task_struct* child = (struct task_struct*)ctx->args[1];
  __u32 parent_tgid = BPF_CORE_READ(parent, tgid);
  __u32 child_tgid = BPF_CORE_READ(child, tgid);
  if (child_tgid == parent_tgid) return 0;
  __u8* state = bpf_map_lookup_elem(&targets, &parent_tgid);
  if (!state || *state != PS_SC_TARGET_ACTIVE) return 0;
  __u8 active = PS_SC_TARGET_ACTIVE;
  if (bpf_map_update_elem(&targets, &child_tgid, &active, BPF_ANY) == 0) {
    set_active(child_tgid, true);
    count_stat(PS_SC_STAT_NEW_TARGETS);
  }
  return 0;
}

/* sched_process_exec: a command held before exec is now running its program. */
SEC("raw_tp/sched_process_exec")
int on_exec(struct bpf_raw_tracepoint_args* ctx) {
  if (!filter_targets) return 0;
  __u32 tgid = bpf_get_current_pid_tgid() >> 32;
  __u8* state = bpf_map_lookup_elem(&targets, &tgid);
  if (state && *state == PS_SC_TARGET_AWAIT_EXEC) {
    *state = PS_SC_TARGET_ACTIVE;
    set_active(tgid, true);
  }
  return 0;
}

/* sched_process_exit(struct task_struct *p, ...), for every exiting thread: a call still in flight
 * (exit, exit_group) never returns; a process whose last thread exits leaves the target set, so
 * user space knows when every followed process is gone. */
SEC("raw_tp/sched_process_exit")
int on_exit(struct bpf_raw_tracepoint_args* ctx) {
  __u64 id = bpf_get_current_pid_tgid();
  __u32 tgid = id >> 32;
  __u32 tid = (__u32)id;
  struct ps_sc_inflight* call = slot_of(tid);
  if (call && call->tid == tid) {
    call->tid = 0;
    count_stat(PS_SC_STAT_UNFINISHED);
  }
  if (!filter_targets) return 0;
  struct task_struct* task = (struct task_struct*)ctx->args[0];
  int live = BPF_CORE_READ(task, signal, live.counter);
  if (live == 0 && bpf_map_delete_elem(&targets, &tgid) == 0) set_active(tgid, false);
  return 0;
}
