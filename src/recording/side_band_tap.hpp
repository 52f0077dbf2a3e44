// SideBandTap: the side-band records of an eBPF recording on their way to the Collector; the
// processes that map code, exec or exit are told to the unwind tables, whose view of their
// mappings the in-kernel walker follows. Used by the on-CPU and off-CPU eBPF backends.
#pragma once

#include <sys/types.h>

#include "bpf/unwind_tables.hpp"
#include "sampling/collector.hpp"

namespace perfscope::recording {

// `tables` may be null (no in-kernel walker), and is not owned.
class SideBandTap final : public sampling::RecordHandler {
 public:
  SideBandTap(sampling::Collector& collector, bpf::UnwindTables* tables)
      : collector_(collector), tables_(tables) {}
  void on_sample(const sampling::Sample& s) override { collector_.on_sample(s); }
  void on_mmap(const sampling::MmapRecord& m) override {
    if (tables_ != nullptr && m.executable && (m.prot & 4U /* PROT_EXEC */) != 0) {
      tables_->mark_changed(static_cast<pid_t>(m.pid));
    }
    collector_.on_mmap(m);
  }
  void on_comm(const sampling::CommRecord& c) override {
    if (tables_ != nullptr && c.exec) tables_->mark_changed(static_cast<pid_t>(c.pid));
    collector_.on_comm(c);
  }
  void on_fork(const sampling::TaskRecord& t) override { collector_.on_fork(t); }
  void on_exit(const sampling::TaskRecord& t) override {
    if (tables_ != nullptr && t.pid == t.tid) tables_->mark_changed(static_cast<pid_t>(t.pid));
    collector_.on_exit(t);
  }
  void on_lost(const sampling::LostRecord& l) override { collector_.on_lost(l); }
  void on_throttle(const sampling::ThrottleRecord& t) override { collector_.on_throttle(t); }
  void on_other(std::uint32_t type) override { collector_.on_other(type); }
  void on_pass_end(std::uint64_t pass_start) override { collector_.on_pass_end(pass_start); }

 private:
  sampling::Collector& collector_;
  bpf::UnwindTables* tables_;
};

}  // namespace perfscope::recording
