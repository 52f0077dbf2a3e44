#include "profile/stack_quality.hpp"

#include <array>
#include <string_view>

#include "profile/checked_math.hpp"
#include "profile/names.hpp"

namespace perfscope::profile {
namespace {

bool is_entry_point(std::string_view name) {
  static constexpr std::array<std::string_view, 10> kEntries = {"_start",
                                                                "__libc_start_main",
                                                                "__libc_start_call_main",
                                                                "__libc_start_main_impl",
                                                                "start_thread",
                                                                "clone",
                                                                "clone3",
                                                                "__clone",
                                                                "__clone3",
                                                                "thread_start"};
  for (auto e : kEntries) {
    if (name == e) return true;
  }
  return false;
}

}  // namespace

StackReach user_stack_reach(const Profile& p) {
  // Per function: 1 = main, 2 = an entry point, 0 = neither; per location: the outermost line's.
  std::vector<std::uint8_t> function_kind(p.functions().size(), 0);
  for (std::size_t i = 0; i < p.functions().size(); ++i) {
    const std::string_view name = p.string(p.functions()[i].name);
    function_kind[i] = name == "main" ? 1 : is_entry_point(name) ? 2 : 0;
  }
  StackReach r;
  for (const Sample& s : p.samples()) {
    const std::int64_t weight = s.values.empty() ? 1 : s.values[0];
    bool user = false, has_main = false;
    std::uint8_t outermost = 0;
    for (const std::uint64_t id : s.location_ids) {
      const Location& l = p.location(id);
      if (is_kernel_mapping(p, l.mapping_id)) continue;
      user = true;
      outermost = 0;
      for (const Line& line : l.lines) {
        const std::uint8_t kind = function_kind[line.function_id - 1];
        if (kind == 1) has_main = true;
        outermost = kind;  // lines are innermost first: the last one is the location's own function
      }
    }
    if (!user) continue;
    add_saturating(r.with_user_stack, weight);
    if (has_main || outermost == 2) add_saturating(r.reaching_root, weight);
  }
  return r;
}

}  // namespace perfscope::profile
