/* The few kernel types perfscope's BPF programs read, declared for CO-RE: libbpf relocates each
 * field access against the running kernel's BTF (/sys/kernel/btf/vmlinux) at load time, so these
 * declarations only need the field names and types, not the kernel's layout. Everything else comes
 * from the stable UAPI headers (<linux/bpf.h>, <linux/types.h>). */
#ifndef PERFSCOPE_BPF_KERNEL_TYPES_H
#define PERFSCOPE_BPF_KERNEL_TYPES_H

#include <linux/types.h>

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct mm_struct;

typedef struct {
  int counter;
} atomic_t;

struct signal_struct {
  atomic_t live; /* threads of the process not yet exiting */
};

struct task_struct {
  int pid;
  int tgid;
  struct mm_struct* mm;
  struct signal_struct* signal;
  struct task_struct* group_leader; /* the process's main thread */
  char comm[16];                    /* TASK_COMM_LEN */
};

/* The kernel's struct pt_regs (x86-64 names); the ___kernel flavour keeps it apart from the UAPI
 * struct pt_regs of <asm/ptrace.h>, whose fields are named rip, rsp, rbp. */
struct pt_regs___kernel {
  unsigned long bp;
  unsigned long sp;
  unsigned long ip;
  unsigned long cs;
};

#pragma clang attribute pop

#endif
