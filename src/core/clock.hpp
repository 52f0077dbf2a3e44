// CLOCK_MONOTONIC as commands measure durations with it, and as perf events stamp records when
// opened with use_clockid/CLOCK_MONOTONIC; and this process's own CPU time.
#pragma once

#include <time.h>

#include <cstdint>

namespace perfscope {

inline std::uint64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

inline double monotonic_seconds() {
  return static_cast<double>(monotonic_ns()) * 1e-9;
}

// CPU time this process has used (all threads), in seconds.
inline double process_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace perfscope
