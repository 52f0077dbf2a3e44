// How complete a profile's user stacks are: the share of samples whose user stack goes all the
// way up to main (or the program's or a thread's entry point), whatever unwound it. A stack cut
// short by a missing frame pointer or unwind table stops somewhere below.
#pragma once

#include <cstdint>

#include "profile/profile.hpp"

namespace perfscope::profile {

struct StackReach {
  std::int64_t with_user_stack = 0;  // samples (value 0) with at least one user frame
  std::int64_t reaching_root = 0;    // of those, with main in the stack or an entry point outermost
};

// A user stack reaches its root when a frame is `main`, or its outermost user frame is an entry
// point: _start, __libc_start_main / __libc_start_call_main, or a thread's start (start_thread,
// clone, clone3, __clone, __clone3).
StackReach user_stack_reach(const Profile& p);

}  // namespace perfscope::profile
