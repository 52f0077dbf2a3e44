// Folded stacks (formats/folded_reader.cpp): any text, a line at a time, into a StackTree, then
// written back as folded text (the counts summed on the way, which must saturate).
#include "formats/folded_reader.hpp"
#include "fuzz_support.hpp"
#include "output/stack_tree.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  output::StackTree tree;
  // The comm filter on for some inputs, chosen without consuming a byte of the text.
  formats::FoldedReaderOptions options;
  if (size > 0 && (data[0] & 1) != 0) options.comm = "main";
  formats::FoldedReader reader(tree, "fuzz.folded", options);
  if (!reader.add_text(fuzz::text(data, size))) return 0;
  fuzz::require(tree.total() >= 0, "a folded tree's total is not negative");
  (void)output::folded_from_tree(tree);
  return 0;
}
