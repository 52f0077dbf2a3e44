// The heap preload's wire format (preload/heap_wire.hpp) as `perfscope mem` reads it:
// HeapAnalysis::feed() over any bytes, in uneven pieces (the pipe splits them anywhere), then
// finish(). Packets, hello/events/maps/scan/bye bodies, stack, alloc, free and time records.
//
// A scan request makes the analysis scan the process's memory and then write a reply byte to
// /proc/PID/fd/FD, both named by the packet. Here the scanner is replaced (it answers "no scan"),
// and every scan request's reply_fd is set to -1 before the bytes are fed, so no input can write
// into another process's descriptor.
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "fuzz_support.hpp"
#include "heap/analysis.hpp"
#include "preload/heap_wire.hpp"

using namespace perfscope;
namespace wire = perfscope::heap_wire;

namespace {

// Walks the packets as feed() does (it stops at the first bad header) and disarms scan replies.
void disarm_scan_replies(std::string& bytes) {
  std::size_t at = 0;
  while (bytes.size() - at >= sizeof(wire::PacketHeader)) {
    wire::PacketHeader h;
    std::memcpy(&h, bytes.data() + at, sizeof h);
    if (h.magic != wire::kMagic || h.bytes < sizeof h || h.bytes > wire::kMaxPacketBytes ||
        h.bytes % 8 != 0 || bytes.size() - at < h.bytes) {
      return;
    }
    if (h.kind == static_cast<std::uint16_t>(wire::PacketKind::scan_request) &&
        h.bytes >= sizeof h + sizeof(wire::ScanBody)) {
      const std::int32_t none = -1;
      std::memcpy(bytes.data() + at + sizeof h + offsetof(wire::ScanBody, reply_fd), &none,
                  sizeof none);
    }
    at += h.bytes;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string bytes(fuzz::text(data, size));
  disarm_scan_replies(bytes);
  heap::HeapAnalysis analysis;
  analysis.set_scanner(
      [](int, const std::vector<heap::LiveBlock>&,
         const std::vector<heap::AddressRange>&) -> Result<heap::ReachabilityResult> {
        return Error{"no reachability scan while fuzzing", 0, {}};
      });
  std::int32_t first_pid = 0;
  if (size >= sizeof(wire::PacketHeader)) {
    std::memcpy(&first_pid, bytes.data() + offsetof(wire::PacketHeader, pid), sizeof first_pid);
  }
  analysis.set_command_pid(first_pid);
  // Pieces of a size taken from the input's length: 1 to 16 KiB + 7 bytes, never packet-aligned.
  const std::size_t piece = 1 + size % (wire::kMaxPacketBytes + 7);
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const std::size_t n = std::min(piece, rest.size());
    if (!analysis.feed(rest.substr(0, n))) break;
    rest.remove_prefix(n);
  }
  const auto images = analysis.finish();
  for (const auto& image : images) {
    fuzz::require(image.stacks.size() == image.sites.size(), "one site per stack");
  }
  return 0;
}
