// The kallsyms cache (src/symbols/kallsyms_cache.cpp): any bytes as a cache file. The input is
// read twice: as the table part alone (KernelSymbols::from_bytes), and as a whole cache file
// through read_kallsyms_cache() for a fixed identity (owner, mode, size, version, checksum,
// identity, then the table). Whatever is accepted must answer every lookup from inside itself.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "fuzz_support.hpp"
#include "symbols/kallsyms.hpp"
#include "symbols/kallsyms_cache.hpp"

using namespace perfscope;

namespace {

void check(const symbols::KernelSymbols& table) {
  // Lookups at, between and around every start the table could hold stay inside it.
  for (std::uint64_t a :
       {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0xffffffff81000000},
        std::uint64_t{0xffffffff81001010}, std::uint64_t{0xffffffffc0001210}, ~std::uint64_t{0}}) {
    if (auto hit = table.find(a)) {
      fuzz::require(hit->start <= a, "a symbol found starts at or before the address");
      fuzz::require(hit->name.size() < (1u << 16), "a name is at most 65535 bytes");
    }
  }
  table.text_range("");
  table.text_range("nf_tables");
  fuzz::require(symbols::KernelSymbols::from_bytes(table.to_bytes()).has_value(),
                "an accepted table is written back to bytes it accepts");
}

// One scratch directory per process; the input is rewritten into it for every run
// (read_kallsyms_cache reads a path).
const std::string& scratch_dir() {
  static const fuzz::ScratchDir dir("kallsyms");
  return dir.path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = fuzz::text(data, size);
  if (auto table = symbols::KernelSymbols::from_bytes(bytes)) check(*table);

  // The identity the seed corpus' whole files were written for (fuzz/corpus/kallsyms_cache/).
  symbols::KernelIdentity id;
  id.build_id = "deadbeef";
  id.boot_id = "11111111-2222-3333-4444-555555555555";
  id.modules_hash = 0;
  id.uid = static_cast<std::uint32_t>(::geteuid());
  id.first_line = "ffffffff81000000 T _stext";
  if (scratch_dir().empty()) return 0;
  const std::string file = scratch_dir() + "/input.bin";
  if (!fuzz::write_private_input(file, data, size)) return 0;
  if (auto table = symbols::read_kallsyms_cache(file, id)) {
    fuzz::require(!table->addresses_hidden(), "a cache never serves a hidden table");
    check(*table);
  }
  return 0;
}
