// Format detection (formats/detect.cpp): detect_format() and head_decides() over any bytes, and
// over every prefix length a reader may hand them (a head cut anywhere).
#include "formats/detect.hpp"
#include "fuzz_support.hpp"
#include "profile/profile.hpp"

using namespace perfscope;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = fuzz::text(data, size);
  const auto whole = formats::detect_format(in);
  if (whole) (void)formats::format_name(*whole);
  (void)profile::looks_like_pprof(in);
  // A head that decides gives the same answer as any longer input it starts, once it is as long as
  // the binary check looks (4 KiB; load_input's head is 64 KiB); except "pprof", which only says
  // the fields in the head look like a profile's (a later one may not).
  constexpr std::size_t kBinaryProbe = 4096;
  for (std::size_t n = kBinaryProbe; n <= in.size(); n += 1 + n / 8) {
    const std::string_view head = in.substr(0, n);
    if (!formats::head_decides(head)) continue;
    const auto format = formats::detect_format(head);
    if (format != formats::Format::pprof) {
      fuzz::require(format == whole, "a head that decides gives the whole input's format");
    }
  }
  return 0;
}
