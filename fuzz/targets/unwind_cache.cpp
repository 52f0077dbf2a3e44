// The eBPF unwinder's table cache (src/bpf/unwind_cache.cpp): any bytes as a cache file for a
// fixed ELF file identity (header, checksum, identity, segment and row counts, sorted rows); and,
// so the checksum does not stop the fuzzer at the door, the same bytes as the body of a correctly
// framed file. Whatever is accepted encodes back to exactly the bytes it was read from.
#include <string>

#include "bpf/unwind_cache.hpp"
#include "fuzz_support.hpp"
#include "symbols/cache_file.hpp"

using namespace perfscope;

namespace {

// The identity the seed corpus was written for (fuzz/corpus/unwind_cache/).
constexpr std::string_view kIdentity = "/fuzz/prog|16|1.2|3|4";

void check(std::string_view bytes) {
  const auto table = bpf::unwind_cache::parse(bytes, kIdentity);
  if (!table) return;
  fuzz::require(!table->rows.empty(), "an accepted table has rows");
  for (std::size_t i = 1; i < table->rows.size(); ++i) {
    fuzz::require(table->rows[i - 1].pc < table->rows[i].pc, "an accepted table's rows are sorted");
  }
  fuzz::require(bpf::unwind_cache::encode(kIdentity, *table) == bytes,
                "an accepted file encodes back to itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = fuzz::text(data, size);
  check(bytes);
  static constexpr char kMagic[4] = {'P', 'S', 'U', 'T'};
  check(symbols::cache_file::framed(kMagic, 2, bytes));
  return 0;
}
