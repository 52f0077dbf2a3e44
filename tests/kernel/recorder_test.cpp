// recording::Recorder as a library: real events, real targets, no CLI. The backends and the
// profile they produce, the notes of the choices made, a stop request and the duration.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "core/unique_fd.hpp"
#include "recording/recorder.hpp"
#include "support/profile_view.hpp"
#include "support/requirements.hpp"
#include "support/run.hpp"

namespace perfscope::recording {
namespace {

using testing::flatten;
using testing::leaf_count;

RecordOptions burn_command(BackendChoice backend) {
  RecordOptions o;
  o.frequency = 499;
  o.backend = backend;
  o.target.command = {testing::target("ps-burn"), "400"};
  return o;
}

void expect_burn_profile(const RecordResult& r) {
  const auto samples = flatten(r.profile);
  EXPECT_GT(leaf_count(samples, "ps-burn", "burn_a"), 10);
  EXPECT_EQ(r.command_status, 0);
  EXPECT_EQ(r.stop_signal, 0);
  EXPECT_GT(r.stats.samples, 50u);
  EXPECT_FALSE(r.stats.system_wide);
}

TEST(Recorder, PerfRingsBackendRecordsACommand) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  auto rec = Recorder::open(burn_command(BackendChoice::perf), system::Capabilities::current());
  ASSERT_TRUE(rec) << rec.error().describe();
  EXPECT_STREQ(rec->backend_name(), "perf (ring buffers)");
  auto r = rec->run();
  ASSERT_TRUE(r) << r.error().describe();
  expect_burn_profile(*r);
  EXPECT_FALSE(r->stats.bpf);
  EXPECT_EQ(r->stats.subject.find("'"), 0u) << r->stats.subject;
}

TEST(Recorder, BpfBackendRecordsACommand) {
  PS_REQUIRE(bpf_backend());
  auto rec = Recorder::open(burn_command(BackendChoice::bpf), system::Capabilities::current());
  ASSERT_TRUE(rec) << rec.error().describe();
  auto r = rec->run();
  ASSERT_TRUE(r) << r.error().describe();
  expect_burn_profile(*r);
  EXPECT_TRUE(r->stats.bpf);
  EXPECT_GT(r->backend.kernel_samples, 50u);
}

// --call-graph dwarf needs the stack copies only the perf rings carry: under auto the recorder
// falls back and says why; asked for bpf explicitly, it refuses with the fix.
TEST(Recorder, DwarfFallsBackToPerfRingsAndSaysWhy) {
  PS_REQUIRE(bpf_backend());
  RecordOptions o = burn_command(BackendChoice::automatic);
  o.call_graph.mode = CallGraphMode::dwarf;
  auto rec = Recorder::open(o, system::Capabilities::current());
  ASSERT_TRUE(rec) << rec.error().describe();
  auto r = rec->run();
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->stats.bpf);
  EXPECT_NE(r->stats.backend_why.find("--call-graph dwarf"), std::string::npos);
  EXPECT_FALSE(r->backend.unwind_lines.empty()) << "DWARF quality lines";

  o.backend = BackendChoice::bpf;
  auto refused = Recorder::open(o, system::Capabilities::current());
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().hint.find("--backend perf"), std::string::npos);
}

// A stop source ends the recording like a signal would: the command is ended, the signal is
// reported and the profile is still built. The stop is already pending when run() starts, so the
// first wait sees it (no timing involved).
TEST(Recorder, StopSourceEndsTheRecordingAndTheCommand) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  RecordOptions o = burn_command(BackendChoice::perf);
  o.target.command = {testing::target("ps-burn"), "60000"};
  auto rec = Recorder::open(o, system::Capabilities::current());
  ASSERT_TRUE(rec) << rec.error().describe();
  UniqueFd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_TRUE(stop_fd);
  const std::uint64_t one = 1;
  ASSERT_EQ(::write(stop_fd.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
  process::StopSource stop{stop_fd.get(), [&]() -> int {
                             std::uint64_t v = 0;
                             return ::read(stop_fd.get(), &v, sizeof v) == sizeof v ? SIGTERM : 0;
                           }};
  auto r = rec->run(stop);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->stop_signal, SIGTERM);
  EXPECT_LT(r->stats.elapsed_s, 30.0) << "stopped long before the 60 s command would end";
  EXPECT_FALSE(r->command_ended_by_duration);
}

// The duration ends a command still running, and that is not the command's failure.
TEST(Recorder, DurationEndsTheCommandAsAsked) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  RecordOptions o;
  o.duration_s = 0.2;
  o.backend = BackendChoice::perf;
  o.target.command = {"/bin/sleep", "30"};
  auto rec = Recorder::open(o, system::Capabilities::current());
  ASSERT_TRUE(rec) << rec.error().describe();
  auto r = rec->run();
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->command_ended_by_duration);
  EXPECT_EQ(r->command_status, 0);
}

TEST(Recorder, RequestsThatCannotWorkAreRefusedBeforeAnythingRuns) {
  const auto& caps = system::Capabilities::current();
  RecordOptions several;
  several.target.pids = "1";
  several.target.tid = "1";
  EXPECT_FALSE(Recorder::open(several, caps));
  RecordOptions zero_hz;
  zero_hz.frequency = 0;
  EXPECT_FALSE(Recorder::open(zero_hz, caps));
  RecordOptions bad_event;
  bad_event.event = "no-such-event";
  EXPECT_FALSE(Recorder::open(bad_event, caps));
  RecordOptions gone;
  gone.target.pids = "999999999";
  auto r = Recorder::open(gone, caps);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("no process"), std::string::npos);
}

}  // namespace
}  // namespace perfscope::recording
