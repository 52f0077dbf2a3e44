/* The ABI of the in-kernel native unwinder (issue 18): compiled unwind-table rows, the executable
 * mappings of a process, and why a walk stopped. Written by src/unwind/cfi_table.cpp and
 * src/bpf/unwind_tables.cpp, read by bpf/profile.bpf.c. x86-64 only: the rules name rsp and rbp,
 * and the return address is always at CFA - 8 (the psABI's call instruction pushes it there). */
#ifndef PERFSCOPE_BPF_UNWIND_ABI_H
#define PERFSCOPE_BPF_UNWIND_ABI_H

#include "profile_abi.h"

#ifdef __cplusplus
typedef std::uint8_t ps_u8;
typedef std::int8_t ps_s8;
typedef std::int16_t ps_s16;
#else
typedef __u8 ps_u8;
typedef __s8 ps_s8;
typedef __s16 ps_s16;
#endif

/* How the canonical frame address (CFA, the caller's stack pointer before its call) is found at
 * a pc. Rows are sorted by pc; a row holds from its pc up to the next row's pc. */
enum ps_cfa_kind {
  PS_CFA_NONE = 0,   /* no CFI covers this pc (a gap between FDEs, or past the last one) */
  PS_CFA_RSP = 1,    /* CFA = rsp + cfa_offset */
  PS_CFA_RBP = 2,    /* CFA = rbp + cfa_offset */
  PS_CFA_PLT = 3,    /* the PLT expression: CFA = rsp + 8 + ((rip & 15) >= cfa_offset ? 8 : 0) */
  PS_CFA_SIGNAL = 4, /* the sigreturn trampoline: the interrupted registers are in the sigcontext
                      * at rsp (rip at rsp + 168, rsp at + 160, rbp at + 120) */
  PS_CFA_END = 5,    /* the return address is undefined: the outermost frame (_start, a thread's
                      * start routine); the walk is complete */
  PS_CFA_UNSUPPORTED = 6, /* a DWARF expression, a CFA register other than rsp/rbp, a return
                           * address not at CFA - 8, or a rbp rule we cannot follow */
};

/* Where the caller's rbp is. */
enum ps_rbp_kind {
  PS_RBP_SAME = 0,   /* unchanged (the callee did not save it, or the psABI's same-value) */
  PS_RBP_AT_CFA = 1, /* saved at CFA + rbp_offset (rbp_offset is negative, e.g. -16) */
};

/* One row: 12 bytes. `pc` is the ELF virtual address (the p_vaddr space of the file) truncated to
 * 32 bits; files whose executable code lies above 4 GiB get no table. */
struct ps_unwind_row {
  ps_u32 pc;
  ps_s32 cfa_offset;
  ps_u8 cfa_kind; /* enum ps_cfa_kind */
  ps_u8 rbp_kind; /* enum ps_rbp_kind */
  ps_s16 rbp_offset;
};

/* The row as the kernel holds it: 8 bytes (a BPF array rounds values up to 8). Offsets are kept in
 * units of 8 bytes (x86-64 frames move the stack pointer in 8-byte steps); a row whose offsets do
 * not fit is loaded as PS_CFA_UNSUPPORTED. For PS_CFA_PLT, cfa8 holds the threshold itself. */
struct ps_kernel_row {
  ps_u32 pc;
  ps_s16 cfa8; /* cfa_offset / 8 */
  ps_u8 kinds; /* cfa_kind | rbp_kind << 4 */
  ps_s8 rbp8;  /* rbp_offset / 8 */
};

/* Tables held at once (one per file, shared by the processes that map it), and executable
 * mappings per process: more are counted and left without a table. */
#define PS_MAX_TABLES 4096
/* Frames the walker follows (bpf_get_stackid's frame-pointer walk stops at 127, the kernel's
 * perf_event_max_stack); deep recursions and compilers go past 127. */
#define PS_MAX_WALK_DEPTH 256
#define PS_MAX_MAPPINGS 256
#define PS_NO_TABLE 0xffffffffu
/* Set in ps_exec_mapping.table while the file's table is being compiled (frame pointers meanwhile).
 */
#define PS_TABLE_PENDING 0x40000000u

/* One executable mapping of a process: [start, end), pc - bias is the file's ELF address. */
struct ps_exec_mapping {
  ps_u64 start;
  ps_u64 end;
  ps_u64 bias;
  ps_u32 table; /* index into the table map; PS_NO_TABLE for anonymous memory (JIT) */
  ps_u32 rows;  /* rows of that table; 0 when it has none */
};

/* A process's executable mappings, sorted by start. count == 0: known, nothing to unwind with
 * (frame pointers are used). */
struct ps_proc_unwind {
  ps_u32 count;
  ps_u32 pad;
  struct ps_exec_mapping mappings[PS_MAX_MAPPINGS];
};

/* Why a user stack walk ended. The first two are complete stacks. */
enum ps_stop_reason {
  PS_STOP_END = 0,     /* the CFI's outermost frame (undefined return address) */
  PS_STOP_ZERO_RA,     /* a return address of 0: the end of the chain */
  PS_STOP_NO_TABLE,    /* a pc in memory without CFI (anonymous/JIT), no usable frame pointer */
  PS_STOP_NO_ROW,      /* a pc in a file whose CFI does not cover it */
  PS_STOP_UNSUPPORTED, /* a CFI rule the in-kernel walker cannot follow */
  PS_STOP_OUTSIDE,     /* a pc in no known mapping of the process */
  PS_STOP_READ_FAULT,  /* the stack could not be read (not resident, or a bad address) */
  PS_STOP_BAD_FRAME,   /* the stack pointer did not move up */
  PS_STOP_TOO_DEEP,    /* PS_MAX_WALK_DEPTH frames */
  PS_STOP_EVICTED,     /* the table was evicted (memory limit) while the process ran */
  PS_STOP_PENDING,     /* the file's table was still being compiled, no usable frame pointer */
  PS_STOP_COUNT
};

/* A user stack the in-kernel walker produced, leaf first; the value of the `ustacks` maps, keyed
 * by a 64-bit hash of the frames. */
struct ps_user_stack {
  ps_u32 depth;
  ps_u32 reason; /* enum ps_stop_reason */
  ps_u64 pcs[PS_MAX_WALK_DEPTH];
};

/* Key of the per-module stop counts: the table (file) where the walk stopped, and why. */
struct ps_stop_key {
  ps_u32 table;
  ps_u32 reason;
};

#endif
