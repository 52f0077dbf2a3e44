// `perf script` text (formats/perf_script.cpp): any text through PerfScriptReader, with the
// options `convert`/`flamegraph` pass (period weights, comm and pid filters), then written back as
// folded text.
#include <algorithm>

#include "formats/perf_script.hpp"
#include "fuzz_support.hpp"
#include "output/stack_tree.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::text(data, size);
  // Options chosen by the input's first byte, without consuming it (the text stays perf's).
  const unsigned bits = size > 0 ? data[0] : 0;
  formats::PerfScriptOptions options{
      .include_comm = (bits & 1) == 0,
      .weight_by_period = (bits & 2) != 0,
  };
  if ((bits & 4) != 0) options.pids = {1, 1234};
  if ((bits & 8) != 0) options.comm = "perf";
  output::StackTree tree;
  formats::PerfScriptReader reader(tree, "fuzz.perf-script", options);
  if (reader.add_text(text)) {
    fuzz::require(tree.total() >= 0, "a perf script tree's total is not negative");
    (void)output::folded_from_tree(tree);
  }
  // The two line parsers on each line alone.
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = text.substr(start, end - start);
    (void)formats::parse_perf_script_header(line);
    (void)formats::parse_perf_script_frame(line);
    start = end + 1;
  }
  return 0;
}
