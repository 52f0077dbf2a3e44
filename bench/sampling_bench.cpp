// The per-sample hot path of `perfscope record`: decoding a SAMPLE record, aggregating its stack,
// and draining a ring of them. Synthetic records shaped like the kernel's, no kernel needed.
#include <benchmark/benchmark.h>
#include <linux/perf_event.h>

#include <cstring>
#include <random>
#include <vector>

#include "sampling/collector.hpp"
#include "sampling/decoder.hpp"
#include "sampling/ring_buffer.hpp"

namespace {

using namespace perfscope::sampling;

constexpr std::uint64_t kSampleType = PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_IP | PERF_SAMPLE_TID |
                                      PERF_SAMPLE_TIME | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD |
                                      PERF_SAMPLE_CALLCHAIN;

perf_event_attr sampling_attr() {
  perf_event_attr a{};
  a.sample_type = kSampleType;
  a.sample_id_all = 1;
  return a;
}

// A SAMPLE with a `depth`-frame user call chain; `variant` picks one of a few distinct stacks.
std::vector<std::uint64_t> sample_record(std::size_t depth, std::uint64_t variant,
                                         std::uint64_t t) {
  std::vector<std::uint64_t> w;
  w.push_back(0);                       // header, filled below
  w.push_back(1);                       // identifier
  w.push_back(0x401000 + variant);      // ip
  w.push_back((1000ull << 32) | 1000);  // pid, tid
  w.push_back(t);                       // time
  w.push_back(variant % 2);             // cpu
  w.push_back(10101010);                // period
  w.push_back(depth + 1);
  w.push_back(static_cast<std::uint64_t>(PERF_CONTEXT_USER));
  for (std::size_t i = 0; i < depth; ++i) w.push_back(0x401000 + variant * 64 + i * 8);
  perf_event_header h{PERF_RECORD_SAMPLE, PERF_RECORD_MISC_USER,
                      static_cast<std::uint16_t>(w.size() * 8)};
  std::memcpy(w.data(), &h, sizeof h);
  return w;
}

void BM_DecodeAndAggregateSample(benchmark::State& state) {
  const Decoder decoder(sampling_attr());
  Collector collector;
  std::vector<std::vector<std::uint64_t>> records;
  for (std::uint64_t v = 0; v < 256; ++v) records.push_back(sample_record(state.range(0), v, v));
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& r = records[i++ & 255];
    auto st =
        decoder.decode({reinterpret_cast<const std::byte*>(r.data()), r.size() * 8}, collector);
    benchmark::DoNotOptimize(st);
    // A recording aggregates its buffered samples after each pass over the rings.
    if ((i & 255) == 0) collector.finish();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeAndAggregateSample)->Arg(8)->Arg(32)->Arg(127);

void BM_AggregateDistinctStacks(benchmark::State& state) {
  std::mt19937_64 rng(1);
  std::vector<std::vector<std::uint64_t>> stacks(static_cast<std::size_t>(state.range(0)));
  for (auto& s : stacks) {
    s.resize(20);
    for (auto& a : s) a = rng() % 5000;
  }
  for (auto _ : state) {
    StackAggregator agg;
    for (int round = 0; round < 4; ++round) {
      for (const auto& s : stacks) agg.add({1, 1, 0, 0}, s, 1, 1);
    }
    benchmark::DoNotOptimize(agg.entries().size());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0) * 4);
}
BENCHMARK(BM_AggregateDistinctStacks)->Arg(1000)->Arg(100000);

// A full ring of 32-frame samples drained, decoded and aggregated.
// The user-space side of an eBPF drain: each distinct in-kernel key (process, thread, CPU, image,
// kernel + user stack) becomes one add_aggregated call with its count, whatever the sample rate.
void BM_AddAggregatedKeys(benchmark::State& state) {
  std::mt19937_64 rng(2);
  const auto keys = static_cast<std::size_t>(state.range(0));
  std::vector<std::vector<std::uint64_t>> chains(keys);
  for (auto& c : chains) {
    c.push_back(static_cast<std::uint64_t>(PERF_CONTEXT_KERNEL));
    for (int i = 0; i < 8; ++i) c.push_back(0xffffffff81000000ull + rng() % 100000);
    c.push_back(static_cast<std::uint64_t>(PERF_CONTEXT_USER));
    for (int i = 0; i < 12; ++i) c.push_back(0x401000 + rng() % 5000);
  }
  for (auto _ : state) {
    Collector collector;
    for (std::size_t i = 0; i < keys; ++i) {
      collector.add_aggregated(1000 + static_cast<std::uint32_t>(i % 7), 1000, i % 2, 0, "burn",
                               chains[i], 17, 17 * 10101010ull);
    }
    benchmark::DoNotOptimize(collector.samples());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_AddAggregatedKeys)->Arg(1000)->Arg(20000);

void BM_DrainRing(benchmark::State& state) {
  constexpr std::size_t kPage = 4096, kData = 256 * kPage;
  std::vector<std::uint64_t> memory((kPage + kData) / 8);
  auto* meta = reinterpret_cast<perf_event_mmap_page*>(memory.data());
  auto* data = reinterpret_cast<std::byte*>(memory.data()) + kPage;
  auto ring =
      RingBuffer::over({reinterpret_cast<std::byte*>(memory.data()), memory.size() * 8}, kPage);
  const Decoder decoder(sampling_attr());
  Collector collector;
  std::size_t records = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::uint64_t head = meta->data_head;
    records = 0;
    for (std::uint64_t v = 0;; ++v) {
      const auto r = sample_record(32, v % 512, v);
      const std::size_t bytes = r.size() * 8;
      if (head + bytes - meta->data_tail > kData) break;
      for (std::size_t b = 0; b < bytes; ++b)
        data[(head + b) % kData] = reinterpret_cast<const std::byte*>(r.data())[b];
      head += bytes;
      ++records;
    }
    meta->data_head = head;
    state.ResumeTiming();
    auto n =
        ring.drain([&](std::span<const std::byte> rec) { (void)decoder.decode(rec, collector); });
    collector.finish();
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * records));
}
BENCHMARK(BM_DrainRing);

}  // namespace
