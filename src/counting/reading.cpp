#include "counting/reading.hpp"

namespace perfscope::counting {

double Reading::scaled() const {
  if (time_running == 0) return 0.0;
  if (time_running >= time_enabled) return static_cast<double>(value);
  return static_cast<double>(value) * static_cast<double>(time_enabled) /
         static_cast<double>(time_running);
}

double Reading::running_fraction() const {
  if (time_enabled == 0) return 1.0;
  if (time_running >= time_enabled) return 1.0;
  return static_cast<double>(time_running) / static_cast<double>(time_enabled);
}

Reading Reading::since(const Reading& earlier) const {
  // Counters are monotonic; a reset between reads shows as a smaller value, clamp to zero.
  auto sub = [](std::uint64_t a, std::uint64_t b) { return a >= b ? a - b : 0; };
  return {sub(value, earlier.value), sub(time_enabled, earlier.time_enabled),
          sub(time_running, earlier.time_running)};
}

Reading& Reading::operator+=(const Reading& other) {
  value += other.value;
  time_enabled += other.time_enabled;
  time_running += other.time_running;
  return *this;
}

}  // namespace perfscope::counting
