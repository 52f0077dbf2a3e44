// Event lists: "a,b,{c,d},sched:*" split at top-level commas, grouped, and globs expanded.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "events/event_spec.hpp"
#include "unit/synthetic_event_fs.hpp"

namespace perfscope::events {
namespace {

struct SplitCase {
  const char* text;
  std::vector<std::string> items;
};

TEST(SplitEventList, SplitsAtTopLevelCommasOnly) {
  const SplitCase cases[] = {
      {"a", {"a"}},
      {"a,b", {"a", "b"}},
      {"cpu/event=1,umask=2/,cycles", {"cpu/event=1,umask=2/", "cycles"}},
      {"cpu/event=1/u,cycles", {"cpu/event=1/u", "cycles"}},
      {"{a,b},c", {"{a,b}", "c"}},
      {"c,{a,b}", {"c", "{a,b}"}},
      {"{cpu/event=1,umask=2/,cycles},instructions",
       {"{cpu/event=1,umask=2/,cycles}", "instructions"}},
      {"sched:*,cycles:u", {"sched:*", "cycles:u"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto items = split_event_list(c.text);
    ASSERT_TRUE(items) << items.error().describe();
    EXPECT_EQ(*items, c.items);
  }
}

struct SplitErrorCase {
  const char* text;
  const char* op_prefix;
};

TEST(SplitEventList, RejectsEmptyItemsAndBadBraces) {
  const SplitErrorCase cases[] = {
      {"a,,b", "empty event name in list 'a,,b'"},
      {"a,", "empty event name in list"},
      {",a", "empty event name in list"},
      {"", "empty event name in list"},
      {"a, ,b", "empty event name in list"},
      {"{a,b", "unbalanced braces in event list '{a,b'"},
      {"{{a}}", "unbalanced or nested braces in event list '{{a}}'"},
      {"a}", "unbalanced or nested braces in event list 'a}'"},
      {"}{", "unbalanced or nested braces"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto items = split_event_list(c.text);
    ASSERT_FALSE(items) << items->size() << " items";
    EXPECT_EQ(items.error().op.rfind(c.op_prefix, 0), 0u) << items.error().op;
    EXPECT_FALSE(items.error().hint.empty());
  }
}

// "{cycles,instructions},page-faults": each group in braces, members by display name.
std::string render(const std::vector<EventGroupSpec>& groups) {
  std::string out;
  for (const auto& g : groups) {
    if (!out.empty()) out += ',';
    std::string members;
    for (const auto& e : g.events) members += (members.empty() ? "" : ",") + e.display_name();
    out += g.grouped ? "{" + members + "}" : members;
  }
  return out;
}

class EventList : public testing::SyntheticEventFsTest {
 protected:
  // Parses `text` and compares the rendered groups with `expected`.
  void expect_groups(const char* text, const std::string& expected) const {
    SCOPED_TRACE(text);
    auto groups = parse_event_list(text, context());
    ASSERT_TRUE(groups) << groups.error().describe();
    EXPECT_EQ(render(*groups), expected);
  }
  void expect_error(const char* text, const std::string& op_contains) const {
    SCOPED_TRACE(text);
    auto groups = parse_event_list(text, context());
    ASSERT_FALSE(groups) << render(*groups);
    EXPECT_NE(groups.error().op.find(op_contains), std::string::npos) << groups.error().op;
  }
};

TEST_F(EventList, UngroupedEventsAreOneGroupEach) {
  auto groups = parse_event_list("cycles,instructions", context());
  ASSERT_TRUE(groups) << groups.error().describe();
  ASSERT_EQ(groups->size(), 2u);
  for (const auto& g : *groups) {
    EXPECT_FALSE(g.grouped);
    EXPECT_EQ(g.events.size(), 1u);
  }
  EXPECT_EQ((*groups)[0].events[0].config, std::uint64_t{PERF_COUNT_HW_CPU_CYCLES});
  EXPECT_EQ((*groups)[1].events[0].config, std::uint64_t{PERF_COUNT_HW_INSTRUCTIONS});
}

TEST_F(EventList, BracesMakeOneGroupInMemberOrder) {
  auto groups = parse_event_list("{instructions,cycles},page-faults", context());
  ASSERT_TRUE(groups) << groups.error().describe();
  ASSERT_EQ(groups->size(), 2u);
  const EventGroupSpec& group = (*groups)[0];
  EXPECT_TRUE(group.grouped);
  ASSERT_EQ(group.events.size(), 2u);
  EXPECT_EQ(group.events[0].name, "instructions");
  EXPECT_EQ(group.events[1].name, "cycles");
  EXPECT_FALSE((*groups)[1].grouped);
  EXPECT_EQ((*groups)[1].events[0].name, "page-faults");
}

TEST_F(EventList, Renderings) {
  expect_groups("{cycles:u,INSTRUCTIONS:u}", "{cycles:u,instructions:u}");
  expect_groups("cs,{task-clock}", "context-switches,{task-clock}");
  expect_groups("cpu/event=0x3c,umask=0x1/,cycles", "cpu/event=0x3c,umask=0x1/,cycles");
  expect_groups("{cpu/event=0x3c,umask=0x1/,LL_READ_MISS}",
                "{cpu/event=0x3c,umask=0x1/,LLC-load-misses}");
}

TEST_F(EventList, TracepointGlobExpandsEveryEventWithAnId) {
  auto groups = parse_event_list("sched:*", context());
  ASSERT_TRUE(groups) << groups.error().describe();
  // sched/enable, sched/filter (files) and sched/no_id (no id file) are not events.
  EXPECT_EQ(render(*groups), "sched:sched_switch,sched:sched_wakeup");
  ASSERT_EQ(groups->size(), 2u);
  EXPECT_EQ((*groups)[0].events[0].config, 316u);
  EXPECT_EQ((*groups)[1].events[0].config, 317u);
  EXPECT_EQ((*groups)[1].events[0].type, std::uint32_t{PERF_TYPE_TRACEPOINT});
}

TEST_F(EventList, TracepointGlobForms) {
  expect_groups("{sched:*}", "{sched:sched_switch,sched:sched_wakeup}");
  expect_groups("sched:*:u", "sched:sched_switch:u,sched:sched_wakeup:u");
  expect_groups("sched:sched_s*", "sched:sched_switch");
  expect_groups("sched:sched_?akeup", "sched:sched_wakeup");
  expect_groups("*:irq_*", "irq:irq_handler_entry");
  expect_groups("cycles,sched:*,irq:irq_handler_entry",
                "cycles,sched:sched_switch,sched:sched_wakeup,irq:irq_handler_entry");
}

TEST_F(EventList, Errors) {
  expect_error("nomatch:*", "no tracepoint matches 'nomatch:*'");
  expect_error("sched:nomatch*", "no tracepoint matches 'sched:nomatch*'");
  expect_error("cycles,bogus", "unknown event 'bogus'");
  expect_error("{cycles,bogus}", "unknown event 'bogus'");
  expect_error("{cycles,instructions}:u", "text after a group's closing brace");
  expect_error("{}", "empty event name");
  expect_error("a,,b", "empty event name in list");
  expect_error("{{cycles}}", "nested braces");
}

TEST_F(EventList, GlobWithoutTracefs) {
  auto groups = parse_event_list("sched:*", context_without_tracefs());
  ASSERT_FALSE(groups);
  EXPECT_NE(groups.error().hint.find("mount -t tracefs"), std::string::npos) << groups.error().hint;
}

}  // namespace
}  // namespace perfscope::events
