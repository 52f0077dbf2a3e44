// pprof reading (profile/pprof_decode.cpp): decode_pprof() over any bytes, then what commands do
// with a decoded profile: validate it, total it, make its stack tree, folded text and speedscope
// JSON (the sums that must saturate, never overflow). A gzip layer is taken off first with a
// 64 MiB bound (the gzip target covers inflation; decode_pprof's own bound is 2 GiB, more than a
// fuzzer's memory).
#include "fuzz_support.hpp"
#include "output/speedscope.hpp"
#include "output/stack_tree.hpp"
#include "profile/gzip.hpp"
#include "profile/profile.hpp"
#include "profile/query.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes = fuzz::text(data, size);
  Result<std::string> inflated = std::string();
  if (profile::is_gzip(bytes)) {
    inflated = profile::gunzip(bytes, "fuzz.pb.gz", std::size_t{64} << 20);
    if (!inflated) return 0;
    bytes = *inflated;
  }
  // Which way samples are read is taken from the input, without consuming a byte of it.
  const bool merge = size > 0 && (data[size - 1] & 1) != 0;
  auto p = profile::decode_pprof(bytes, "fuzz.pb", {.merge_samples = merge});
  if (!p) return 0;
  fuzz::require(static_cast<bool>(profile::validate(*p)), "a decoded profile validates");
  (void)profile::totals(*p);
  if (auto tree = output::tree_from_profile(*p)) (void)output::folded_from_tree(*tree);
  (void)output::speedscope_json(*p);
  auto encoded = profile::encode_pprof(*p);
  fuzz::require(static_cast<bool>(encoded), "a decoded profile encodes");
  auto again = profile::decode_pprof(*encoded, "fuzz.pb (encoded again)");
  fuzz::require(static_cast<bool>(again), "an encoded profile decodes");
  fuzz::require(again->samples().size() == p->samples().size(),
                "a profile read back has as many samples");
  return 0;
}
