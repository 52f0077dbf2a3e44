// Decoder and ring-buffer tests on synthetic records: every sample_type bit perfscope uses, every
// record type, records that wrap the ring, truncated records and garbage. No kernel needed.
#include <gtest/gtest.h>
#include <linux/perf_event.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sampling/decoder.hpp"
#include "sampling/ring_buffer.hpp"

namespace perfscope::sampling {
namespace {

// Builds one record: header, then fields, padded to 8 bytes.
class RecordBuilder {
 public:
  RecordBuilder(std::uint32_t type, std::uint16_t misc = 0) : type_(type), misc_(misc) {}
  template <typename T>
  RecordBuilder& put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    body_.insert(body_.end(), p, p + sizeof v);
    return *this;
  }
  RecordBuilder& str(const std::string& s) {
    std::size_t n = (s.size() + 1 + 7) / 8 * 8;
    std::string padded = s;
    padded.resize(n, '\0');
    const auto* p = reinterpret_cast<const std::byte*>(padded.data());
    body_.insert(body_.end(), p, p + n);
    return *this;
  }
  RecordBuilder& raw(std::size_t n, std::byte fill) {
    body_.insert(body_.end(), n, fill);
    return *this;
  }
  // As u64 words, so the record is 8-byte aligned like the ring's.
  std::vector<std::uint64_t> build() const {
    perf_event_header h{type_, misc_, static_cast<std::uint16_t>(sizeof h + body_.size())};
    std::vector<std::uint64_t> out((h.size + 7) / 8);
    std::memcpy(out.data(), &h, sizeof h);
    std::memcpy(reinterpret_cast<std::byte*>(out.data()) + sizeof h, body_.data(), body_.size());
    return out;
  }

 private:
  std::uint32_t type_;
  std::uint16_t misc_;
  std::vector<std::byte> body_;
};

std::span<const std::byte> bytes_of(const std::vector<std::uint64_t>& words) {
  perf_event_header h{};
  std::memcpy(&h, words.data(), sizeof h);
  return {reinterpret_cast<const std::byte*>(words.data()), h.size};
}

struct Capture : RecordHandler {
  std::vector<Sample> samples;
  std::vector<std::vector<std::uint64_t>> chains;
  std::vector<MmapRecord> mmaps;
  std::vector<std::string> names;  // mmap filenames and comms, copied
  std::vector<CommRecord> comms;
  std::vector<TaskRecord> forks, exits;
  std::vector<LostRecord> lost;
  std::vector<ThrottleRecord> throttles;
  std::vector<std::uint32_t> others;
  std::vector<std::string> build_ids;
  void on_sample(const Sample& s) override {
    samples.push_back(s);
    chains.emplace_back(s.callchain.begin(), s.callchain.end());
  }
  void on_mmap(const MmapRecord& m) override {
    mmaps.push_back(m);
    names.emplace_back(m.filename);
    build_ids.emplace_back(reinterpret_cast<const char*>(m.build_id.data()), m.build_id.size());
  }
  void on_comm(const CommRecord& c) override {
    comms.push_back(c);
    names.emplace_back(c.comm);
  }
  void on_fork(const TaskRecord& t) override { forks.push_back(t); }
  void on_exit(const TaskRecord& t) override { exits.push_back(t); }
  void on_lost(const LostRecord& l) override { lost.push_back(l); }
  void on_throttle(const ThrottleRecord& t) override { throttles.push_back(t); }
  void on_other(std::uint32_t type) override { others.push_back(type); }
};

perf_event_attr attr_with(std::uint64_t sample_type, bool sample_id_all = true) {
  perf_event_attr a{};
  a.sample_type = sample_type;
  a.sample_id_all = sample_id_all ? 1 : 0;
  return a;
}

constexpr std::uint64_t kRecordType = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
                                      PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD |
                                      PERF_SAMPLE_CALLCHAIN;

// The sample_id trailer for kRecordType: TID, TIME, CPU, IDENTIFIER.
RecordBuilder& trailer(RecordBuilder& b, std::uint32_t pid, std::uint32_t tid, std::uint64_t time,
                       std::uint32_t cpu, std::uint64_t id) {
  return b.put(pid).put(tid).put(time).put(cpu).put(std::uint32_t{0}).put(id);
}

TEST(Decoder, SampleWithEveryFieldPerfscopeRecords) {
  const Decoder d(attr_with(kRecordType));
  RecordBuilder b(PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER);
  b.put(std::uint64_t{77})           // identifier
      .put(std::uint64_t{0x401234})  // ip
      .put(std::uint32_t{100})
      .put(std::uint32_t{101})        // pid, tid
      .put(std::uint64_t{123456789})  // time
      .put(std::uint32_t{1})
      .put(std::uint32_t{0})         // cpu, res
      .put(std::uint64_t{10101010})  // period
      .put(std::uint64_t{4})         // callchain nr
      .put(static_cast<std::uint64_t>(PERF_CONTEXT_USER))
      .put(std::uint64_t{0x401234})
      .put(std::uint64_t{0x401500})
      .put(std::uint64_t{0x401600});
  Capture c;
  const auto rec = b.build();
  ASSERT_TRUE(d.decode(bytes_of(rec), c)) << "valid sample";
  ASSERT_EQ(c.samples.size(), 1u);
  const auto& s = c.samples[0];
  EXPECT_EQ(s.id.id, 77u);
  EXPECT_EQ(s.ip, 0x401234u);
  EXPECT_EQ(s.id.pid, 100u);
  EXPECT_EQ(s.id.tid, 101u);
  EXPECT_EQ(s.id.time, 123456789u);
  EXPECT_EQ(s.id.cpu, 1u);
  EXPECT_EQ(s.period, 10101010u);
  EXPECT_FALSE(s.kernel);
  EXPECT_EQ(c.chains[0], (std::vector<std::uint64_t>{static_cast<std::uint64_t>(PERF_CONTEXT_USER),
                                                     0x401234, 0x401500, 0x401600}));
}

TEST(Decoder, EachSampleTypeBitAloneRoundTrips) {
  // One bit at a time, so a field read at the wrong offset shows up as a wrong value.
  struct Case {
    std::uint64_t bit;
    std::vector<std::uint64_t> words;
  };
  const std::vector<Case> cases = {
      {PERF_SAMPLE_IDENTIFIER, {5}},         {PERF_SAMPLE_IP, {0xabc}},
      {PERF_SAMPLE_TID, {(7ull << 32) | 6}}, {PERF_SAMPLE_TIME, {99}},
      {PERF_SAMPLE_ADDR, {0xdead}},          {PERF_SAMPLE_ID, {8}},
      {PERF_SAMPLE_STREAM_ID, {9}},          {PERF_SAMPLE_CPU, {3}},
      {PERF_SAMPLE_PERIOD, {1000}},          {PERF_SAMPLE_CALLCHAIN, {2, 0x10, 0x20}},
  };
  for (const auto& cs : cases) {
    SCOPED_TRACE(cs.bit);
    const Decoder d(attr_with(cs.bit));
    RecordBuilder b(PERF_RECORD_SAMPLE, PERF_RECORD_MISC_KERNEL);
    for (auto w : cs.words) b.put(w);
    Capture c;
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
    ASSERT_EQ(c.samples.size(), 1u);
    const auto& s = c.samples[0];
    EXPECT_TRUE(s.kernel);
    switch (cs.bit) {
      case PERF_SAMPLE_IDENTIFIER:
        EXPECT_EQ(s.id.id, 5u);
        break;
      case PERF_SAMPLE_IP:
        EXPECT_EQ(s.ip, 0xabcu);
        break;
      case PERF_SAMPLE_TID:
        EXPECT_EQ(s.id.pid, 6u);
        EXPECT_EQ(s.id.tid, 7u);
        break;
      case PERF_SAMPLE_TIME:
        EXPECT_EQ(s.id.time, 99u);
        break;
      case PERF_SAMPLE_ID:
        EXPECT_EQ(s.id.id, 8u);
        break;
      case PERF_SAMPLE_CPU:
        EXPECT_EQ(s.id.cpu, 3u);
        break;
      case PERF_SAMPLE_PERIOD:
        EXPECT_EQ(s.period, 1000u);
        break;
      case PERF_SAMPLE_CALLCHAIN:
        EXPECT_EQ(c.chains[0], (std::vector<std::uint64_t>{0x10, 0x20}));
        break;
      default:
        break;  // ADDR and STREAM_ID are read past, not kept
    }
  }
}

TEST(Decoder, RawRegsAndUserStackAreWalkedInOrder) {
  perf_event_attr a = attr_with(PERF_SAMPLE_IP | PERF_SAMPLE_RAW | PERF_SAMPLE_REGS_USER |
                                PERF_SAMPLE_STACK_USER | PERF_SAMPLE_PERIOD);
  a.sample_regs_user = 0b1011;  // three registers
  const Decoder d(a);
  RecordBuilder b(PERF_RECORD_SAMPLE);
  b.put(std::uint64_t{0x1000})  // ip
      .put(std::uint64_t{42})   // period
      .put(std::uint32_t{4})
      .put(std::uint32_t{0xfeedbeef})  // raw: size 4 + data, u64 aligned
      .put(std::uint64_t{2})           // regs abi (64-bit)
      .put(std::uint64_t{11})
      .put(std::uint64_t{22})
      .put(std::uint64_t{33})
      .put(std::uint64_t{16})  // stack size
      .raw(16, std::byte{0x5a})
      .put(std::uint64_t{8});  // dyn_size
  Capture c;
  const auto rec = b.build();
  ASSERT_TRUE(d.decode(bytes_of(rec), c));
  const auto& s = c.samples.at(0);
  EXPECT_EQ(s.ip, 0x1000u);
  EXPECT_EQ(s.period, 42u);
  EXPECT_EQ(s.regs_abi, 2u);
  ASSERT_EQ(s.regs.size(), 3u);
  EXPECT_EQ(s.regs[2], 33u);
  EXPECT_EQ(s.stack.size(), 16u);
  EXPECT_EQ(s.stack_dyn_size, 8u);
}

// perf 6.1 run with -B on kernel 6.18 sets the build-id bit on MMAP2 records that hold device and
// inode (the first byte, the "size", is the major number: 254). The file name is at the same place
// in both layouts, so such a record is read as device and inode rather than refused.
TEST(Decoder, Mmap2WithTheBuildIdBitButDeviceAndInodeIsReadAsDeviceAndInode) {
  const Decoder d(attr_with(kRecordType));
  Capture c;
  RecordBuilder b(PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER | PERF_RECORD_MISC_MMAP_BUILD_ID);
  b.put(std::uint32_t{10})
      .put(std::uint32_t{11})
      .put(std::uint64_t{0x7f0000001000})
      .put(std::uint64_t{0x2000})
      .put(std::uint64_t{0x1000})
      .put(std::uint32_t{254})
      .put(std::uint32_t{1})
      .put(std::uint64_t{0x3c5be})
      .put(std::uint64_t{0})
      .put(std::uint32_t{5})
      .put(std::uint32_t{2})
      .str("/usr/bin/gzip");
  trailer(b, 10, 11, 500, 1, 77);
  const auto rec = b.build();
  ASSERT_TRUE(d.decode(bytes_of(rec), c));
  ASSERT_EQ(c.mmaps.size(), 1u);
  EXPECT_EQ(c.names.at(0), "/usr/bin/gzip");
  EXPECT_TRUE(c.build_ids.at(0).empty());
  EXPECT_EQ(c.mmaps[0].maj, 254u);
  EXPECT_EQ(c.mmaps[0].min, 1u);
  EXPECT_EQ(c.mmaps[0].ino, 0x3c5beu);
  EXPECT_TRUE(c.mmaps[0].executable);
}

TEST(Decoder, SideBandRecordsWithTrailer) {
  const Decoder d(attr_with(kRecordType));
  EXPECT_EQ(d.trailer_size(), 32u);
  Capture c;
  {
    RecordBuilder b(PERF_RECORD_MMAP2, PERF_RECORD_MISC_USER | PERF_RECORD_MISC_MMAP_BUILD_ID);
    b.put(std::uint32_t{10})
        .put(std::uint32_t{11})
        .put(std::uint64_t{0x7f0000001000})
        .put(std::uint64_t{0x2000})
        .put(std::uint64_t{0x1000})
        .put(std::uint8_t{3})
        .put(std::uint8_t{0})
        .put(std::uint16_t{0});
    for (int i = 0; i < 20; ++i) b.put(static_cast<std::uint8_t>(i < 3 ? 'a' + i : 0));
    b.put(std::uint32_t{5}).put(std::uint32_t{2}).str("/usr/lib/libfoo.so");
    trailer(b, 10, 11, 500, 1, 77);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }
  {
    RecordBuilder b(PERF_RECORD_COMM, PERF_RECORD_MISC_COMM_EXEC);
    b.put(std::uint32_t{10}).put(std::uint32_t{10}).str("busy");
    trailer(b, 10, 10, 400, 0, 77);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }
  for (auto type : {PERF_RECORD_FORK, PERF_RECORD_EXIT}) {
    RecordBuilder b(type);
    b.put(std::uint32_t{12})
        .put(std::uint32_t{10})
        .put(std::uint32_t{12})
        .put(std::uint32_t{10})
        .put(std::uint64_t{600});
    trailer(b, 12, 12, 600, 0, 77);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }
  {
    RecordBuilder b(PERF_RECORD_LOST);
    b.put(std::uint64_t{77}).put(std::uint64_t{9});
    trailer(b, 0, 0, 700, 1, 77);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }
  {
    RecordBuilder b(PERF_RECORD_LOST_SAMPLES);
    b.put(std::uint64_t{4});
    trailer(b, 0, 0, 700, 1, 77);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }
  for (auto type : {PERF_RECORD_THROTTLE, PERF_RECORD_UNTHROTTLE}) {
    RecordBuilder b(type);
    b.put(std::uint64_t{800}).put(std::uint64_t{77}).put(std::uint64_t{77});
    trailer(b, 0, 0, 800, 1, 77);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }
  {
    RecordBuilder b(PERF_RECORD_MMAP, PERF_RECORD_MISC_MMAP_DATA);
    b.put(std::uint32_t{10})
        .put(std::uint32_t{10})
        .put(std::uint64_t{0x5000})
        .put(std::uint64_t{0x1000})
        .put(std::uint64_t{0})
        .str("/tmp/data");
    trailer(b, 10, 10, 900, 0, 77);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }
  {
    RecordBuilder b(PERF_RECORD_KSYMBOL);
    b.put(std::uint64_t{1});
    trailer(b, 0, 0, 0, 0, 0);
    const auto rec = b.build();
    ASSERT_TRUE(d.decode(bytes_of(rec), c));
  }

  ASSERT_EQ(c.mmaps.size(), 2u);
  EXPECT_EQ(c.mmaps[0].pid, 10u);
  EXPECT_EQ(c.mmaps[0].addr, 0x7f0000001000u);
  EXPECT_EQ(c.mmaps[0].len, 0x2000u);
  EXPECT_EQ(c.mmaps[0].pgoff, 0x1000u);
  EXPECT_EQ(c.build_ids[0], "abc");
  EXPECT_TRUE(c.mmaps[0].executable);  // prot 5 = r-x
  EXPECT_EQ(c.names[0], "/usr/lib/libfoo.so");
  EXPECT_EQ(c.mmaps[0].id.time, 500u);
  EXPECT_EQ(c.mmaps[0].id.cpu, 1u);
  EXPECT_FALSE(c.mmaps[1].executable) << "MMAP of data";
  ASSERT_EQ(c.comms.size(), 1u);
  EXPECT_TRUE(c.comms[0].exec);
  EXPECT_EQ(c.names[1], "busy");
  ASSERT_EQ(c.forks.size(), 1u);
  EXPECT_EQ(c.forks[0].ppid, 10u);
  EXPECT_EQ(c.forks[0].time, 600u);
  ASSERT_EQ(c.exits.size(), 1u);
  ASSERT_EQ(c.lost.size(), 2u);
  EXPECT_EQ(c.lost[0].lost, 9u);
  EXPECT_FALSE(c.lost[0].samples_only);
  EXPECT_EQ(c.lost[1].lost, 4u);
  EXPECT_TRUE(c.lost[1].samples_only);
  ASSERT_EQ(c.throttles.size(), 2u);
  EXPECT_TRUE(c.throttles[0].throttled);
  EXPECT_FALSE(c.throttles[1].throttled);
  EXPECT_EQ(c.others, std::vector<std::uint32_t>{PERF_RECORD_KSYMBOL});
}

TEST(Decoder, TruncatedRecordsAreErrorsNotCrashes) {
  const Decoder d(attr_with(kRecordType));
  RecordBuilder b(PERF_RECORD_SAMPLE);
  b.put(std::uint64_t{1})
      .put(std::uint64_t{2})
      .put(std::uint64_t{3})
      .put(std::uint64_t{4})
      .put(std::uint64_t{5})
      .put(std::uint64_t{6})
      .put(std::uint64_t{1000000});  // callchain nr far beyond the record
  Capture c;
  const auto rec = b.build();
  const auto st = d.decode(bytes_of(rec), c);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().op.find("callchain"), std::string::npos) << st.error().op;
  EXPECT_TRUE(c.samples.empty());

  // Every prefix of a valid record whose header claims the full size is rejected.
  RecordBuilder m(PERF_RECORD_MMAP2);
  m.put(std::uint32_t{1})
      .put(std::uint32_t{1})
      .put(std::uint64_t{0})
      .put(std::uint64_t{0})
      .put(std::uint64_t{0});
  const auto short_mmap = m.build();
  EXPECT_FALSE(d.decode(bytes_of(short_mmap), c)) << "mmap2 shorter than its fields + trailer";
  const auto full = bytes_of(rec);
  for (std::size_t n = 0; n < full.size(); n += 8) {
    EXPECT_FALSE(d.decode(full.first(n), c)) << n;
  }
}

TEST(Decoder, RandomGarbageNeverCrashes) {
  perf_event_attr a = attr_with(kRecordType | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER);
  a.sample_regs_user = 0xff;
  const Decoder d(a);
  std::mt19937_64 rng(42);
  Capture c;
  std::size_t errors = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::size_t words = 1 + rng() % 40;
    std::vector<std::uint64_t> rec(words);
    for (auto& w : rec) w = rng() % 4 == 0 ? rng() % 64 : rng();
    perf_event_header h{static_cast<std::uint32_t>(rng() % 20), static_cast<std::uint16_t>(rng()),
                        static_cast<std::uint16_t>(words * 8)};
    std::memcpy(rec.data(), &h, sizeof h);
    if (!d.decode(bytes_of(rec), c)) ++errors;
  }
  EXPECT_GT(errors, 0u) << "garbage must be reported";
}

// A ring laid out in memory like the kernel's: metadata page, then data.
struct FakeRing {
  static constexpr std::size_t kPage = 4096;
  explicit FakeRing(std::size_t data_size) : words((kPage + data_size) / 8) {}
  std::span<std::byte> memory() {
    return {reinterpret_cast<std::byte*>(words.data()), words.size() * 8};
  }
  perf_event_mmap_page* meta() { return reinterpret_cast<perf_event_mmap_page*>(words.data()); }
  std::byte* data() { return reinterpret_cast<std::byte*>(words.data()) + kPage; }
  std::size_t data_size() const { return words.size() * 8 - kPage; }
  // Writes a record at the head, wrapping as the kernel does.
  void write(const std::vector<std::uint64_t>& rec) {
    const auto bytes = bytes_of(rec);
    std::uint64_t head = meta()->data_head;
    for (std::size_t i = 0; i < bytes.size(); ++i) data()[(head + i) % data_size()] = bytes[i];
    meta()->data_head = head + bytes.size();
  }
  std::vector<std::uint64_t> words;
};

std::vector<std::uint64_t> sample_record(std::uint64_t ip, std::size_t chain) {
  RecordBuilder b(PERF_RECORD_SAMPLE);
  b.put(std::uint64_t{1})
      .put(ip)
      .put(std::uint32_t{1})
      .put(std::uint32_t{1})
      .put(std::uint64_t{ip})
      .put(std::uint32_t{0})
      .put(std::uint32_t{0})
      .put(std::uint64_t{1})
      .put(std::uint64_t{chain});
  for (std::size_t i = 0; i < chain; ++i) b.put(ip + i);
  return b.build();
}

TEST(RingBuffer, DrainsEveryRecordAcrossTheWrapAndFreesTheSpace) {
  FakeRing fake(512);
  auto ring = RingBuffer::over(fake.memory(), FakeRing::kPage);
  const Decoder d(attr_with(kRecordType));
  Capture c;
  std::uint64_t next_ip = 1;
  std::size_t wrapped = 0;
  // 60 rounds of 3 records of varied sizes through a 512-byte ring: many records straddle the end.
  for (int round = 0; round < 60; ++round) {
    for (int k = 0; k < 3; ++k) {
      const auto rec = sample_record(next_ip++, static_cast<std::size_t>((round + k) % 5));
      const auto head = fake.meta()->data_head;
      if (head % fake.data_size() + rec.size() * 8 > fake.data_size()) ++wrapped;
      fake.write(rec);
    }
    auto n = ring.drain([&](std::span<const std::byte> r) { ASSERT_TRUE(d.decode(r, c)); });
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 3u);
    EXPECT_EQ(fake.meta()->data_tail, fake.meta()->data_head) << "space given back";
  }
  EXPECT_GT(wrapped, 5u) << "the test must exercise wrapped records";
  ASSERT_EQ(c.samples.size(), 180u);
  for (std::size_t i = 0; i < c.samples.size(); ++i) {
    EXPECT_EQ(c.samples[i].ip, i + 1);
    for (std::size_t j = 0; j < c.chains[i].size(); ++j) EXPECT_EQ(c.chains[i][j], i + 1 + j);
  }
}

TEST(RingBuffer, ImpossibleRecordSizeIsAnErrorAndSkipsTheRest) {
  FakeRing fake(512);
  auto ring = RingBuffer::over(fake.memory(), FakeRing::kPage);
  fake.write(sample_record(1, 0));
  perf_event_header bad{PERF_RECORD_SAMPLE, 0, 4};  // smaller than a header
  std::vector<std::uint64_t> rec(1);
  std::memcpy(rec.data(), &bad, sizeof bad);
  std::memcpy(fake.data() + fake.meta()->data_head % fake.data_size(), rec.data(), 8);
  fake.meta()->data_head += 8;
  std::size_t seen = 0;
  auto n = ring.drain([&](std::span<const std::byte>) { ++seen; });
  EXPECT_FALSE(n);
  EXPECT_EQ(seen, 1u) << "the good record before the bad one is delivered";
  EXPECT_EQ(fake.meta()->data_tail, fake.meta()->data_head) << "the ring is not stuck";
}

TEST(RingBuffer, PagesFitTheLockedMemoryBudget) {
  EXPECT_EQ(ring_pages_for(2, 1032, 4096, 128), 128u);  // 516 KiB x 2 CPUs, 2 rings
  EXPECT_EQ(ring_pages_for(4, 516, 4096, 128), 16u);
  EXPECT_EQ(ring_pages_for(64, 516, 4096, 128), 8u) << "never below 8 pages";
  EXPECT_EQ(ring_pages_for(2, 0, 4096, 256), 256u) << "no budget: the cap";
}

}  // namespace
}  // namespace perfscope::sampling
