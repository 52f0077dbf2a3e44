// Counter: one perf event in counting mode, owned (move-only).
#pragma once

#include "core/error.hpp"
#include "counting/open_event.hpp"
#include "counting/reading.hpp"

namespace perfscope::counting {

class Counter {
 public:
  static Result<Counter> open(const events::EventSpec& spec, const Target& target,
                              const CounterOptions& options = {});

  // read(2) of value, time_enabled, time_running. With inherit, children that have exited are
  // included; live children are summed by the kernel too.
  Result<Reading> read() const;
  Status enable();
  Status disable();
  Status reset();

  const events::EventSpec& spec() const { return spec_; }
  int fd() const { return fd_.get(); }
  std::uint64_t id() const { return id_; }

 private:
  Counter(OpenedEvent opened)
      : fd_(std::move(opened.fd)), spec_(std::move(opened.spec)), id_(opened.id) {}
  UniqueFd fd_;
  events::EventSpec spec_;
  std::uint64_t id_ = 0;
};

}  // namespace perfscope::counting
