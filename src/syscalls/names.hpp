// Names of this architecture's system calls and of errno values, as strace prints them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace perfscope::syscalls {

// "openat" for 257 on x86-64; "syscall_NNN" for a number no table knows.
std::string syscall_name(int nr);
// The number of a syscall name, for the backends' special cases (execve, rt_sigreturn).
std::optional<int> syscall_number(const std::string& name);
// "ENOENT"; the kernel's internal restart codes (512-516) by their kernel names; "E123" otherwise.
std::string errno_name(int err);
// The number errno_name gave `name`, or nothing for a name it never gives.
std::optional<int> errno_number(std::string_view name);

}  // namespace perfscope::syscalls
