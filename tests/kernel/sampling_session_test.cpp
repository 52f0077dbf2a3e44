// Session against the real kernel: software-event sampling of this process and of a child,
// side-band records, and the user-space-only fallback.
#include <gtest/gtest.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <time.h>

#include "sampling/collector.hpp"
#include "sampling/session.hpp"
#include "support/requirements.hpp"

namespace perfscope::sampling {
namespace {

void spin_ms(int ms) {
  timespec start{}, now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
  volatile unsigned long x = 0;
  do {
    for (int i = 0; i < 10000; ++i) x = x + 1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  } while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 < ms);
}

TEST(SamplingSession, SamplesThisThreadWithCallChains) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  SamplingOptions o;
  o.frequency = 1000;
  o.threads = {static_cast<pid_t>(::gettid())};
  o.inherit = false;
  auto s = Session::open(o, system::Capabilities::current());
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_GE(s->ring_pages(), 8u);
  Collector c;
  ASSERT_TRUE(s->enable());
  spin_ms(300);
  // An executable mapping while sampling produces an MMAP2 record for the process table.
  void* code = ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(code, MAP_FAILED);
  spin_ms(50);
  ASSERT_TRUE(s->disable());
  s->drain(c);
  c.finish();
  ::munmap(code, 4096);
  EXPECT_GT(c.samples(), 200u) << "300 ms at 1000 Hz";
  EXPECT_EQ(s->stats().decode_errors, 0u);
  ASSERT_FALSE(c.stacks().entries().empty());
  const auto& e = c.stacks().entries().front();
  EXPECT_EQ(e.key.pid, static_cast<std::uint32_t>(::getpid()));
  // This test binary has no frame pointers, so chains may stop after the sampled address; each
  // still opens with its context marker and holds that address.
  for (const auto& entry : c.stacks().entries()) {
    const auto stack = c.stacks().stack(entry);
    ASSERT_GE(stack.size(), 2u);
    EXPECT_GE(stack[0], static_cast<std::uint64_t>(PERF_CONTEXT_MAX)) << "a context marker first";
  }
  const auto& space = c.processes().space(e.key.space);
  EXPECT_NE(space.find(reinterpret_cast<std::uint64_t>(code)), nullptr)
      << "the MMAP2 of the new executable mapping reached the process table";
  if (!s->options().user_only) {
    EXPECT_EQ(c.lost_records(), 0u);
  }
}

TEST(SamplingSession, FrequencyAboveTheKernelLimitIsLoweredWithANote) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  auto caps = system::Capabilities::current();
  if (caps.max_sample_rate <= 0) GTEST_SKIP() << "perf_event_max_sample_rate unreadable";
  SamplingOptions o;
  o.frequency = static_cast<std::uint64_t>(caps.max_sample_rate) + 1000;
  o.threads = {static_cast<pid_t>(::gettid())};
  o.inherit = false;
  auto s = Session::open(o, caps);
  ASSERT_TRUE(s) << s.error().describe();
  EXPECT_EQ(s->options().frequency, static_cast<std::uint64_t>(caps.max_sample_rate));
  ASSERT_FALSE(s->notes().empty());
  EXPECT_NE(s->notes().front().find("perf_event_max_sample_rate"), std::string::npos);
}

TEST(SamplingSession, MissingThreadIsExplained) {
  PS_REQUIRE(paranoid(2), pmu("software"));
  SamplingOptions o;
  o.threads = {999999999};
  auto s = Session::open(o, system::Capabilities::current());
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().errnum, ESRCH);
  EXPECT_NE(s.error().hint.find("ps -p"), std::string::npos) << s.error().describe();
}

}  // namespace
}  // namespace perfscope::sampling
