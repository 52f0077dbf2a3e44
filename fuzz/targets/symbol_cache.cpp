// The symbol cache (src/symbols/symbol_cache.cpp): any bytes as a cache file, read through
// read_symbol_cache() for a fixed identity (owner, mode, size, version, checksum, identity, then
// every entry's counts and strings). Whatever is accepted is written back to a file that reads
// back the same.
#include <unistd.h>

#include <string>

#include "fuzz_support.hpp"
#include "symbols/symbol_cache.hpp"

using namespace perfscope;

namespace {

// One scratch directory per process; the input is rewritten into it for every run.
const std::string& scratch_dir() {
  static const fuzz::ScratchDir dir("symbols");
  return dir.path;
}

bool same(const symbols::CachedFrames& a, const symbols::CachedFrames& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [vaddr, frames] : a) {
    const auto it = b.find(vaddr);
    if (it == b.end() || it->second.size() != frames.size()) return false;
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const auto &x = frames[i], &y = it->second[i];
      if (x.function != y.function || x.file != y.file || x.line != y.line ||
          x.start_line != y.start_line || x.inlined != y.inlined || x.resolved != y.resolved ||
          x.module_offset != y.module_offset) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (scratch_dir().empty()) return 0;
  // The identity the seed corpus was written for (fuzz/corpus/symbol_cache/, uid 0).
  symbols::SymbolCacheKey key;
  key.build_id = "0123456789abcdef";
  key.file = {1, 2, 3, 4};
  key.debug_file = "/usr/lib/debug/.build-id/01/23456789abcdef.debug";
  key.debug = {5, 6, 7, 8};
  key.program_id = "fedcba9876543210";
  key.uid = static_cast<std::uint32_t>(::geteuid());
  const std::string file = scratch_dir() + "/input.bin";
  if (!fuzz::write_private_input(file, data, size)) return 0;
  const auto cached = symbols::read_symbol_cache(file, key);
  if (!cached) return 0;
  const std::string again = scratch_dir() + "/again.bin";
  fuzz::require(symbols::write_symbol_cache(again, key, *cached),
                "an accepted cache is written back");
  const auto back = symbols::read_symbol_cache(again, key);
  fuzz::require(back.has_value() && same(*back, *cached), "an accepted cache reads back as itself");
  return 0;
}
