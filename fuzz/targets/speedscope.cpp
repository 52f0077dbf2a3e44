// speedscope JSON (formats/speedscope_reader.cpp): parse_speedscope() over any text, then what
// commands do with the profile: validate, total, stack tree, folded text, speedscope JSON again.
#include "output/speedscope.hpp"
#include "formats/speedscope_reader.hpp"
#include "fuzz_support.hpp"
#include "output/stack_tree.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto p = formats::parse_speedscope(fuzz::text(data, size), "fuzz.json");
  if (!p) return 0;
  fuzz::require(static_cast<bool>(profile::validate(*p)), "a speedscope profile validates");
  (void)profile::totals(*p);
  if (auto tree = output::tree_from_profile(*p)) (void)output::folded_from_tree(*tree);
  if (auto json = output::speedscope_json(*p)) {
    auto again = formats::parse_speedscope(*json, "fuzz.json (written again)");
    fuzz::require(static_cast<bool>(again), "speedscope JSON perfscope writes reads back");
  }
  return 0;
}
