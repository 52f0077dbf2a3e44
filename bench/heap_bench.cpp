// What `perfscope mem`'s reader pays per allocation and free: AddressMap, the table of live blocks
// every event goes through. The pattern is the benchmark workload's (bench/heap_workload.cpp): a
// large live set (Arg: live blocks, up to the workload's ~1.3 million) through which a steady
// stream of allocations and frees passes, at addresses a size-class allocator hands out (16-byte
// granules in a few arenas, freed blocks reused). Each event is one free of a random live block and
// one allocation at the address the allocator would give back.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "heap/address_map.hpp"

namespace {

using perfscope::heap::AddressMap;
using perfscope::heap::LiveBlockInfo;

// Arg 1: how many events go through at a time after their slots were prefetched (1: none), as
// the reader does with each packet of the stream.
void BM_AddressMapChurn(benchmark::State& state) {
  const auto live = static_cast<std::size_t>(state.range(0));
  const auto batch = static_cast<std::size_t>(state.range(1));
  std::mt19937_64 rng(7);
  AddressMap map;
  LiveBlockInfo replaced;
  std::vector<std::uint64_t> blocks;
  blocks.reserve(live);
  // Two arenas (the workload's two threads), blocks of 32-64 bytes laid out back to back.
  std::uint64_t next[2] = {0x55d0'0000'0000ULL, 0x7f3c'0000'0000ULL};
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < live; ++i) {
    auto& top = next[i & 1];
    blocks.push_back(top);
    map.insert(top, LiveBlockInfo{32, ++seq, static_cast<std::uint32_t>(i % 500)}, replaced);
    top += 32 + 16 * (rng() % 3);
  }
  std::uniform_int_distribution<std::size_t> pick(0, live - 1);
  std::vector<std::size_t> picks(batch);
  for (auto _ : state) {
    for (auto& i : picks) i = pick(rng);
    if (batch > 1) {
      for (const std::size_t i : picks) map.prefetch(blocks[i]);
    }
    for (const std::size_t i : picks) {
      const std::uint64_t address = blocks[i];
      LiveBlockInfo info;
      benchmark::DoNotOptimize(map.find(address, info));
      map.erase(address);
      // The allocator usually hands the freed chunk straight back (tcache); sometimes a new one.
      std::uint64_t fresh = address;
      if ((seq & 7) == 0) {
        fresh = next[seq & 1];
        next[seq & 1] += 48;
      }
      blocks[i] = fresh;
      map.insert(fresh, LiveBlockInfo{48, ++seq, static_cast<std::uint32_t>(seq % 500)}, replaced);
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch) * 2);
}
BENCHMARK(BM_AddressMapChurn)->Args({10'000, 1})->Args({1'300'000, 1})->Args({1'300'000, 128});

// Filling the table from empty: a program's start-up, where every allocation is new and the table
// grows (the growth's page faults included).
void BM_AddressMapFill(benchmark::State& state) {
  const auto n = static_cast<std::uint64_t>(state.range(0));
  for (auto _ : state) {
    AddressMap map;
    LiveBlockInfo replaced;
    std::uint64_t address = 0x55d0'0000'0000ULL;
    for (std::uint64_t i = 0; i < n; ++i) {
      map.insert(address, LiveBlockInfo{32, i, 1}, replaced);
      address += 48;
    }
    benchmark::DoNotOptimize(map.size());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_AddressMapFill)->Arg(1'300'000)->Unit(benchmark::kMillisecond);

}  // namespace
