#include "heap/heap_profile.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

#include "recording/location_table.hpp"
#include "symbols/proc_maps.hpp"

namespace perfscope::heap {
namespace {

std::string base_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

class Builder {
 public:
  Builder(symbols::Symbolizer& s, profile::Profile& p) : symbolizer_(s), p_(p), table_(p) {}

  void add_image(const ProcessImage& img, std::vector<std::int64_t>& sample_of_site) {
    sample_of_site.assign(img.sites.size(), -1);
    auto files = symbols::parse_proc_maps(img.maps, img.pid);
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.start < b.start; });
    const auto comm = p_.intern(base_name(img.exe));
    const auto pid_key = p_.intern("pid"), comm_key = p_.intern("comm");
    for (std::size_t i = 0; i < img.sites.size(); ++i) {
      const SiteStats& st = img.sites[i];
      if (st.alloc_count == 0 && st.live_count == 0) continue;
      sample_of_site[i] = static_cast<std::int64_t>(p_.samples().size());
      profile::Sample s;
      for (const std::uint64_t pc : img.stacks[i]) s.location_ids.push_back(location(files, pc));
      if (s.location_ids.empty()) s.location_ids.push_back(no_stack());
      s.values.resize(kHeapValueCount);
      s.values[kAllocObjects] = static_cast<std::int64_t>(st.alloc_count);
      s.values[kAllocSpace] = static_cast<std::int64_t>(st.alloc_bytes);
      s.values[kInuseObjects] = static_cast<std::int64_t>(st.peak_count);
      s.values[kInuseSpace] = static_cast<std::int64_t>(st.peak_bytes);
      s.values[kLeakedObjects] = static_cast<std::int64_t>(st.live_count);
      s.values[kLeakedSpace] = static_cast<std::int64_t>(st.live_bytes);
      s.values[kTemporaryObjects] = static_cast<std::int64_t>(st.temporary_count);
      s.labels.push_back({pid_key, 0, img.pid, 0});
      s.labels.push_back({comm_key, comm, 0, 0});
      p_.add_sample(std::move(s));
    }
  }

 private:
  // Every frame is a return address: look up the call instruction before it.
  std::uint64_t location(const std::vector<symbols::MappedFile>& files, std::uint64_t pc) {
    auto it = std::upper_bound(files.begin(), files.end(), pc,
                               [](std::uint64_t a, const auto& f) { return a < f.start; });
    if (it == files.begin() || pc >= std::prev(it)->end) {
      return table_.add(0, pc, {symbols::Symbolizer::unknown("address outside every mapping")});
    }
    const symbols::MappedFile& file = *std::prev(it);
    const auto mapping_id =
        table_.file_mapping(file.path, file.build_id, file.start, file.end, file.pgoff);
    if (auto found = table_.find(mapping_id, pc)) return *found;
    return table_.add(mapping_id, pc, symbolizer_.resolve_user(file, pc - 1));
  }

  std::uint64_t no_stack() {
    return table_.add(0, 0, {symbols::Symbolizer::unknown("no stack recorded")});
  }

  symbols::Symbolizer& symbolizer_;
  profile::Profile& p_;
  recording::LocationTable table_;
};

}  // namespace

profile::Profile build_heap_profile(const std::vector<ProcessImage>& images,
                                    symbols::Symbolizer& symbolizer, const HeapProfileInfo& info,
                                    std::vector<std::vector<std::int64_t>>* sample_of_site) {
  profile::Profile p;
  const auto count = p.intern("count"), bytes = p.intern("bytes");
  p.sample_types = {{p.intern("alloc_objects"), count},    {p.intern("alloc_space"), bytes},
                    {p.intern("inuse_objects"), count},    {p.intern("inuse_space"), bytes},
                    {p.intern("leaked_objects"), count},   {p.intern("leaked_space"), bytes},
                    {p.intern("temporary_objects"), count}};
  p.default_sample_type = p.intern("inuse_space");
  p.period_type = {p.intern("space"), bytes};
  p.period = 1;
  p.time_nanos = info.time_nanos;
  p.duration_nanos = info.duration_nanos;
  if (!info.command_line.empty()) p.add_comment("perfscope mem: " + info.command_line);
  p.add_comment("inuse_* is the heap at its peak; leaked_* what was never freed");
  for (const auto& img : images) {
    p.add_comment(
        fmt::format("pid {} {}: peak {} bytes, {} allocations, {} bytes allocated, {} "
                    "temporary, {} bytes in {} blocks never freed",
                    img.pid, base_name(img.exe), img.peak_bytes, img.allocations,
                    img.bytes_allocated, img.temporary, img.current_bytes, img.current_blocks));
  }
  Builder b(symbolizer, p);
  std::vector<std::vector<std::int64_t>> index(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) b.add_image(images[i], index[i]);
  if (sample_of_site != nullptr) *sample_of_site = std::move(index);
  return p;
}

}  // namespace perfscope::heap
