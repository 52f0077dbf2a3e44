// SyntheticEventFsTest: a fixture with a small sysfs event_source tree and a small tracefs tree in
// a temporary directory, laid out as the kernel lays them out, so event parsing can be tested
// exactly.
//
//   <tmp>/devices/cpu     type 4, format terms event/umask/cmask/any (config), ldlat (config1),
//                         named event mem-loads
//   <tmp>/devices/msr     type 9, no terms
//   <tmp>/tracing/events  sched/{sched_switch 316, sched_wakeup 317, no_id (no id file)},
//                         irq/irq_handler_entry 100, modlike/h 7 (a tracepoint named like a
//                         modifier), and the files tracefs keeps beside them (enable, filter)
#pragma once

#include "events/event_spec.hpp"
#include "unit/temp_dir_test.hpp"

namespace perfscope::testing {

class SyntheticEventFsTest : public TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    if (HasFatalFailure()) return;
    build_sysfs();
    build_tracefs();
  }

  // Parsing pointed at both synthetic trees.
  events::ParseContext context() const {
    return events::ParseContext{.event_sources = path("devices"), .tracefs = path("tracing")};
  }
  // The synthetic sysfs, with tracefs not mounted.
  events::ParseContext context_without_tracefs() const {
    return events::ParseContext{.event_sources = path("devices"), .tracefs = ""};
  }

 private:
  void build_sysfs() const {
    write_file("devices/cpu/type", "4\n");
    write_file("devices/cpu/format/event", "config:0-7\n");
    write_file("devices/cpu/format/umask", "config:8-15\n");
    write_file("devices/cpu/format/cmask", "config:24-31\n");
    write_file("devices/cpu/format/any", "config:21\n");
    write_file("devices/cpu/format/ldlat", "config1:0-15\n");
    write_file("devices/cpu/events/mem-loads", "event=0xcd,umask=0x1\n");
    write_file("devices/msr/type", "9\n");
  }

  void build_tracefs() const {
    write_file("tracing/events/enable", "0\n");
    write_file("tracing/events/header_page", "\tfield: u64 timestamp;\n");
    write_file("tracing/events/sched/enable", "0\n");
    write_file("tracing/events/sched/filter", "none\n");
    write_file("tracing/events/sched/sched_switch/id", "316\n");
    write_file("tracing/events/sched/sched_wakeup/id", "317\n");
    write_file("tracing/events/sched/no_id/format", "name: no_id\n");
    write_file("tracing/events/irq/irq_handler_entry/id", "100\n");
    write_file("tracing/events/modlike/h/id", "7\n");
  }
};

}  // namespace perfscope::testing
