// HeapAnalysis on synthetic streams: what the preload would write, byte for byte, including the
// orders only several threads produce (a free arriving before its allocation).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "heap/address_map.hpp"
#include "heap/analysis.hpp"
#include "preload/heap_wire.hpp"

namespace perfscope::heap {
namespace {
namespace wire = heap_wire;

// Builds packets the way the preload does.
class Stream {
 public:
  explicit Stream(int pid) : pid_(pid) {}

  std::string hello(wire::Origin origin = wire::Origin::started, int parent = 1,
                    std::uint64_t first_seq = 1) {
    wire::HelloBody b{};
    b.first_seq = first_seq;
    b.parent_pid = parent;
    b.origin = static_cast<std::uint32_t>(origin);
    b.unwind = static_cast<std::uint32_t>(wire::Unwind::frame_pointers);
    b.start_ns = 1'000'000'000;
    std::strcpy(b.exe, "/usr/bin/test-program");
    return packet(wire::PacketKind::hello, 0, &b, sizeof b);
  }

  // One events packet of thread `tid`.
  class Events {
   public:
    Events& stack(std::uint32_t id, std::vector<std::uint64_t> pcs) {
      wire::StackRecordHead h{wire::record_word(wire::RecordType::stack, pcs.size()), id, 0};
      put(&h, sizeof h);
      put(pcs.data(), pcs.size() * 8);
      return *this;
    }
    Events& alloc(std::uint64_t seq, std::uint64_t address, std::uint64_t size,
                  std::uint32_t stack) {
      wire::AllocRecord r{
          static_cast<std::uint64_t>(wire::RecordType::alloc) | (1u << 8) | (seq << 16), address,
          size, stack, 0};
      put(&r, sizeof r);
      return *this;
    }
    Events& free(std::uint64_t seq, std::uint64_t address) {
      wire::FreeRecord r{wire::record_word(wire::RecordType::free, seq), address};
      put(&r, sizeof r);
      return *this;
    }
    Events& skip(std::uint64_t seq) {
      wire::SkipRecord r{wire::record_word(wire::RecordType::skip, seq)};
      put(&r, sizeof r);
      return *this;
    }
    Events& time(std::uint64_t ns) {
      wire::TimeRecord r{wire::record_word(wire::RecordType::time, 0), ns};
      put(&r, sizeof r);
      return *this;
    }
    std::string bytes;

   private:
    void put(const void* p, std::size_t n) { bytes.append(static_cast<const char*>(p), n); }
  };

  std::string events(int tid, const Events& e) {
    return packet(wire::PacketKind::events, tid, e.bytes.data(), e.bytes.size());
  }

  std::string bye(wire::ByeReason reason) {
    wire::ByeBody b{static_cast<std::uint32_t>(reason), 0, 1};
    return packet(wire::PacketKind::bye, 0, &b, sizeof b);
  }

 private:
  std::string packet(wire::PacketKind kind, int tid, const void* body, std::size_t n) {
    wire::PacketHeader h{};
    h.magic = wire::kMagic;
    h.kind = static_cast<std::uint16_t>(kind);
    h.bytes = static_cast<std::uint32_t>((sizeof h + n + 7) / 8 * 8);
    h.pid = pid_;
    h.tid = tid;
    h.time_ns = 2'000'000'000;
    std::string out(reinterpret_cast<const char*>(&h), sizeof h);
    out.append(static_cast<const char*>(body), n);
    out.resize(h.bytes, '\0');
    return out;
  }
  int pid_;
};

TEST(HeapAnalysis, PeakSitesTemporariesAndLeaks) {
  Stream s(100);
  HeapAnalysis a;
  a.set_command_pid(100);
  Stream::Events e;
  e.stack(1, {0x1000, 0x2000}).stack(2, {0x3000, 0x2000});
  e.time(1'000'000'000).alloc(1, 0xa000, 100, 1).alloc(2, 0xb000, 50, 2);
  e.time(1'004'000'000).free(3, 0xa000);      // peak 150 before this
  e.alloc(4, 0xc000, 30, 2).free(5, 0xc000);  // temporary
  ASSERT_TRUE(a.feed(s.hello() + s.events(100, e) + s.bye(wire::ByeReason::quick_exit)));
  auto images = a.finish();
  ASSERT_EQ(images.size(), 1u);
  const ProcessImage& img = images[0];
  EXPECT_EQ(img.origin, ImageOrigin::command);
  EXPECT_EQ(img.end, ImageEnd::quick_exit);
  EXPECT_EQ(img.peak_bytes, 150u);
  EXPECT_EQ(img.peak_snapshot_bytes, 150u);
  EXPECT_EQ(img.allocations, 3u);
  EXPECT_EQ(img.frees, 2u);
  EXPECT_EQ(img.temporary, 1u);
  EXPECT_EQ(img.current_bytes, 50u);
  ASSERT_EQ(img.stacks.size(), 2u);
  EXPECT_EQ(img.sites[0].peak_bytes, 100u);
  EXPECT_EQ(img.sites[1].peak_bytes, 50u);
  EXPECT_EQ(img.sites[1].alloc_bytes, 80u);
  EXPECT_EQ(img.sites[1].temporary_count, 1u);
  EXPECT_EQ(img.sites[1].live_bytes, 50u);
  EXPECT_EQ(img.sites[0].live_bytes, 0u);
  EXPECT_EQ(img.peak_time_ns, 0);  // at the image's start time
  EXPECT_EQ(img.reachability, Reachability::unknown);
}

TEST(HeapAnalysis, AFreeThatOvertakesItsAllocationIsMatchedBySequence) {
  Stream s(7);
  HeapAnalysis a;
  a.set_command_pid(7);
  // Thread 2 frees (seq 2) what thread 1 allocated (seq 1), and its packet arrives first; then
  // thread 3 gets the same address again (seq 3) and keeps it.
  Stream::Events t1, t2, t3;
  t1.stack(1, {0x10}).alloc(1, 0xa000, 64, 1);
  t2.free(2, 0xa000);
  t3.stack(2, {0x20}).alloc(3, 0xa000, 32, 2);
  ASSERT_TRUE(a.feed(s.hello() + s.events(2, t2) + s.events(3, t3) + s.events(1, t1)));
  auto images = a.finish();
  const ProcessImage& img = images.at(0);
  EXPECT_EQ(img.allocations, 2u);
  EXPECT_EQ(img.frees, 1u);
  EXPECT_EQ(img.current_bytes, 32u);  // only thread 3's block is live
  EXPECT_EQ(img.current_blocks, 1u);
  EXPECT_EQ(img.unknown_frees, 0u);
  // Sites are numbered as their stacks arrive: thread 3's first.
  ASSERT_EQ(img.stacks.at(0), std::vector<std::uint64_t>{0x20});
  EXPECT_EQ(img.sites[0].live_bytes, 32u);
  EXPECT_EQ(img.sites[1].live_bytes, 0u);
  EXPECT_EQ(img.sites[1].alloc_bytes, 64u);
}

TEST(HeapAnalysis, EventsOfSeveralThreadsApplyInSequenceOrderWhateverTheArrivalOrder) {
  // Two threads each allocate 100 bytes and free them; in the program's order both blocks are
  // live at once (seq 1, 2, then the frees 3, 4), but each thread's packet holds its whole story.
  for (const bool first_thread_first : {true, false}) {
    Stream s(8);
    HeapAnalysis a;
    Stream::Events t1, t2;
    t1.stack(1, {0x10}).time(1'000'000'000).alloc(1, 0xa000, 100, 1).free(3, 0xa000);
    t2.stack(2, {0x20}).time(1'000'000'000).alloc(2, 0xb000, 100, 2).free(4, 0xb000);
    const std::string p1 = s.events(1, t1), p2 = s.events(2, t2);
    ASSERT_TRUE(a.feed(s.hello() + (first_thread_first ? p1 + p2 : p2 + p1)));
    auto images = a.finish();
    const ProcessImage& img = images.at(0);
    EXPECT_EQ(img.peak_bytes, 200u);
    EXPECT_EQ(img.peak_snapshot_bytes, 200u);
    std::uint64_t at_peak = 0;
    for (const auto& site : img.sites) at_peak += site.peak_bytes;
    EXPECT_EQ(at_peak, 200u) << "every block live at the peak is in its breakdown";
    EXPECT_EQ(img.frees, 2u);
    EXPECT_EQ(img.current_bytes, 0u);
    EXPECT_EQ(img.missing_events, 0u);
  }
}

TEST(HeapAnalysis, ASkippedSequenceNumberIsNotAGap) {
  Stream s(6);
  HeapAnalysis a;
  Stream::Events t1, t2;
  t1.stack(1, {0x10}).alloc(1, 0xa000, 100, 1).skip(2);  // a realloc that failed
  t2.stack(2, {0x20}).alloc(3, 0xb000, 50, 2);
  ASSERT_TRUE(a.feed(s.hello() + s.events(2, t2) + s.events(1, t1)));
  auto images = a.finish();
  EXPECT_EQ(images.at(0).current_bytes, 150u);
  EXPECT_EQ(images.at(0).frees, 0u);
  EXPECT_EQ(images.at(0).missing_events, 0u);
}

TEST(HeapAnalysis, ASequenceNumberThatNeverComesIsGivenUpOnAtTheEnd) {
  Stream s(6);
  HeapAnalysis a;
  Stream::Events e;
  e.stack(1, {0x10}).alloc(1, 0xa000, 100, 1).alloc(4, 0xb000, 50, 1);  // 2 and 3 were lost
  ASSERT_TRUE(a.feed(s.hello() + s.events(6, e)));
  auto images = a.finish();
  EXPECT_EQ(images.at(0).current_bytes, 150u);
  EXPECT_EQ(images.at(0).missing_events, 2u);
}

TEST(HeapAnalysis, ForkChildrenInheritStackIdsNotHeap) {
  Stream parent(10), child(11);
  HeapAnalysis a;
  a.set_command_pid(10);
  Stream::Events p, c;
  p.stack(1, {0x10, 0x20}).alloc(1, 0xa000, 100, 1);
  c.free(2, 0xa000).alloc(3, 0xb000, 5, 1);  // frees inherited memory; reuses stack id 1
  ASSERT_TRUE(a.feed(parent.hello() + parent.events(10, p) +
                     child.hello(wire::Origin::forked, 10, 2) + child.events(11, c)));
  auto images = a.finish();
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[1].origin, ImageOrigin::forked);
  EXPECT_EQ(images[1].parent_pid, 10);
  EXPECT_EQ(images[1].unknown_frees, 1u);
  EXPECT_EQ(images[1].current_bytes, 5u);
  EXPECT_EQ(images[1].stacks.at(0), (std::vector<std::uint64_t>{0x10, 0x20}));
  EXPECT_EQ(images[1].sites[0].alloc_bytes, 5u);
  EXPECT_EQ(images[0].current_bytes, 100u);  // the parent's heap is its own
}

TEST(HeapAnalysis, ASecondHelloOfOnePidIsAnExecdImage) {
  Stream s(5);
  HeapAnalysis a;
  a.set_command_pid(5);
  ASSERT_TRUE(a.feed(s.hello() + s.hello()));
  auto images = a.finish();
  ASSERT_EQ(images.size(), 2u);
  EXPECT_EQ(images[0].origin, ImageOrigin::command);
  EXPECT_EQ(images[0].end, ImageEnd::exec);
  EXPECT_EQ(images[1].origin, ImageOrigin::execed);
}

TEST(HeapAnalysis, PacketsSplitAnywhereGiveTheSameResult) {
  Stream s(9);
  Stream::Events e;
  e.stack(1, {0x10});
  for (std::uint64_t i = 0; i < 100; ++i) e.alloc(i + 1, 0x1000 + i * 16, i, 1);
  const std::string bytes = s.hello() + s.events(9, e);
  for (std::size_t cut : {1ul, 7ul, 31ul, 32ul, 33ul, 500ul, bytes.size() - 1}) {
    HeapAnalysis a;
    ASSERT_TRUE(a.feed(bytes.substr(0, cut)));
    ASSERT_TRUE(a.feed(bytes.substr(cut)));
    auto images = a.finish();
    ASSERT_EQ(images.size(), 1u) << cut;
    EXPECT_EQ(images[0].current_bytes, 4950u) << cut;
    EXPECT_EQ(images[0].origin, ImageOrigin::spawned) << "no command pid set";
  }
}

TEST(HeapAnalysis, ForeignBytesAreAnError) {
  HeapAnalysis a;
  const std::string junk(64, 'x');
  auto st = a.feed(junk);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message().find("not from perfscope's heap preload"), std::string::npos);
}

TEST(HeapAnalysis, TimelineFollowsADropAndALaterSpikeInsideOneTimeStep) {
  Stream s(3);
  HeapAnalysis a;
  Stream::Events e;
  e.stack(1, {0x10}).time(1'000'000'000);
  std::uint64_t seq = 1;
  for (std::uint64_t i = 0; i < 64; ++i) e.alloc(seq++, 0x100000 + i * 0x10000, 65536, 1);
  for (std::uint64_t i = 0; i < 64; i += 2) e.free(seq++, 0x100000 + i * 0x10000);
  e.alloc(seq, 0x9000000, 10 << 20, 1).free(seq + 1, 0x9000000);  // 2 MiB -> 12 MiB -> 2 MiB
  e.time(1'500'000'000).alloc(seq + 2, 0xa000, 16, 1);
  ASSERT_TRUE(a.feed(s.hello() + s.events(3, e)));
  auto images = a.finish();
  const auto& t = images.at(0).timeline;
  std::vector<std::int64_t> levels;
  for (const auto& p : t) levels.push_back(p.bytes);
  const std::int64_t full = 64 * 65536, half = 32 * 65536, spike = half + (10 << 20);
  EXPECT_EQ(levels, (std::vector<std::int64_t>{full, half, spike, half, half + 16, half + 16}));
  EXPECT_EQ(t[0].time_ns, 0);
  EXPECT_EQ(t[3].time_ns, 0);
  EXPECT_EQ(t[4].time_ns, 500'000'000);
}

TEST(HeapAnalysis, TimelineKeepsTheHighestHeapOfEachTimeStep) {
  Stream s(3);
  HeapAnalysis a;
  Stream::Events e;
  e.stack(1, {0x10}).time(1'000'000'000);
  e.alloc(1, 0xa000, 1000, 1).free(2, 0xa000);  // a spike inside the first step
  e.time(1'010'000'000).alloc(3, 0xb000, 10, 1);
  ASSERT_TRUE(a.feed(s.hello() + s.events(3, e)));
  auto images = a.finish();
  const auto& t = images.at(0).timeline;
  ASSERT_GE(t.size(), 2u);
  EXPECT_EQ(t[0].time_ns, 0);
  EXPECT_EQ(t[0].bytes, 1000);  // the spike survives
  EXPECT_EQ(t.back().bytes, 10);
  EXPECT_EQ(images[0].peak_bytes, 1000u);
}

TEST(HeapAnalysis, ScanRequestsAreAnsweredAndSplitLeaks) {
  Stream s(4);
  HeapAnalysis a;
  std::vector<LiveBlock> seen;
  a.set_scanner([&](int pid, const std::vector<LiveBlock>& blocks,
                    const std::vector<AddressRange>& exclude) -> Result<ReachabilityResult> {
    EXPECT_EQ(pid, 4);
    EXPECT_EQ(exclude.size(), 1u);
    seen = blocks;
    ReachabilityResult r;
    r.kind = {LeakKind::still_reachable, LeakKind::definitely_lost};
    return r;
  });
  Stream::Events e;
  e.stack(1, {0x10}).alloc(1, 0xb000, 20, 1).alloc(2, 0xa000, 10, 1);
  wire::ScanBody scan{};
  scan.reply_fd = 999;  // nothing to open: the reply fails quietly
  scan.exclude_begin = 0x100;
  scan.exclude_end = 0x200;
  wire::PacketHeader h{};
  h.magic = wire::kMagic;
  h.kind = static_cast<std::uint16_t>(wire::PacketKind::scan_request);
  h.bytes = sizeof h + sizeof scan;
  h.pid = 4;
  std::string request(reinterpret_cast<const char*>(&h), sizeof h);
  request.append(reinterpret_cast<const char*>(&scan), sizeof scan);
  ASSERT_TRUE(a.feed(s.hello() + s.events(4, e) + request + s.bye(wire::ByeReason::exit)));
  auto images = a.finish();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].address, 0xa000u);  // sorted by address
  const auto& img = images.at(0);
  EXPECT_EQ(img.reachability, Reachability::classified);
  EXPECT_EQ(img.sites[0].leaked(LeakKind::still_reachable), 10u);  // the block at 0xa000
  EXPECT_EQ(img.sites[0].leaked(LeakKind::definitely_lost), 20u);
  EXPECT_EQ(img.sites[0].live_bytes, 30u);
}

TEST(AddressMap, AgreesWithAnUnorderedMapUnderRandomInsertsAndErases) {
  AddressMap m;
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 200000; ++i) {
    const std::uint64_t address = (rng() % 5000 + 1) * 16;
    if (rng() % 3 == 0) {
      m.erase(address);
      ref.erase(address);
    } else {
      // Every 7th block is larger than a slot's 32-bit size holds.
      const std::uint64_t size = i % 7 == 0 ? (std::uint64_t{5} << 32) + i : i;
      LiveBlockInfo replaced;
      const bool existed = m.insert(address, {size, 0, static_cast<std::uint32_t>(i)}, replaced);
      EXPECT_EQ(existed, ref.find(address) != ref.end());
      if (existed) {
        EXPECT_EQ(replaced.size, ref[address]);
      }
      ref[address] = size;
    }
  }
  EXPECT_EQ(m.size(), ref.size());
  for (const auto& [address, size] : ref) {
    LiveBlockInfo found;
    ASSERT_TRUE(m.find(address, found));
    EXPECT_EQ(found.size, size);
  }
  std::size_t visited = 0;
  m.for_each([&](std::uint64_t address, const LiveBlockInfo& info) {
    ++visited;
    EXPECT_EQ(info.size, ref.at(address));
  });
  EXPECT_EQ(visited, ref.size());
}

TEST(AddressMap, SequenceNumbersAreKeptOnlyFromKeepSeqsOn) {
  AddressMap m;
  LiveBlockInfo replaced, found;
  EXPECT_FALSE(m.insert(0x1000, {16, 5, 1}, replaced));
  ASSERT_TRUE(m.find(0x1000, found));
  EXPECT_EQ(found.seq, 0u);  // in order: older than any event to come
  m.keep_seqs();
  EXPECT_FALSE(m.insert(0x2000, {32, 9, 2}, replaced));
  ASSERT_TRUE(m.find(0x2000, found));
  EXPECT_EQ(found.seq, 9u);
  EXPECT_EQ(found.size, 32u);
  EXPECT_EQ(found.site, 2u);
  EXPECT_TRUE(m.insert(0x1000, {48, 12, 3}, replaced));  // overwritten: now with its seq
  EXPECT_EQ(replaced.size, 16u);
  ASSERT_TRUE(m.find(0x1000, found));
  EXPECT_EQ(found.seq, 12u);
  m.erase(0x2000);
  EXPECT_FALSE(m.find(0x2000, found));
  EXPECT_FALSE(m.insert(0x2000, {8, 20, 4}, replaced));
  ASSERT_TRUE(m.find(0x2000, found));
  EXPECT_EQ(found.seq, 20u);
}

}  // namespace
}  // namespace perfscope::heap
