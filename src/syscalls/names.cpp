#include "syscalls/names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <string_view>

namespace perfscope::syscalls {
namespace {

struct Entry {
  int nr;
  const char* name;
};

// Generated from <asm/unistd.h>, sorted by number.
constexpr Entry kHeaderTable[] = {
#include "syscall_numbers.inc"
};

#if defined(__x86_64__)
// Calls newer than Debian 12's kernel headers (6.1), numbered alike on every architecture since
// the 5.x unification (asm-generic and x86-64 share them from 424 on).
constexpr Entry kNewerTable[] = {
    {451, "cachestat"},         {452, "fchmodat2"},        {453, "map_shadow_stack"},
    {454, "futex_wake"},        {455, "futex_wait"},       {456, "futex_requeue"},
    {457, "statmount"},         {458, "listmount"},        {459, "lsm_get_self_attr"},
    {460, "lsm_set_self_attr"}, {461, "lsm_list_modules"}, {462, "mseal"},
    {463, "setxattrat"},        {464, "getxattrat"},       {465, "listxattrat"},
    {466, "removexattrat"},     {467, "open_tree_attr"},   {468, "file_getattr"},
    {469, "file_setattr"},
};
#else
constexpr Entry kNewerTable[] = {{-1, ""}};
#endif

const char* find(int nr) {
  const auto* it = std::lower_bound(std::begin(kHeaderTable), std::end(kHeaderTable), nr,
                                    [](const Entry& e, int n) { return e.nr < n; });
  if (it != std::end(kHeaderTable) && it->nr == nr) return it->name;
  for (const auto& e : kNewerTable) {
    if (e.nr == nr) return e.name;
  }
  return nullptr;
}

}  // namespace

std::string syscall_name(int nr) {
  if (const char* name = find(nr)) return name;
  return fmt::format("syscall_{}", nr);
}

std::optional<int> syscall_number(const std::string& name) {
  for (const auto& e : kHeaderTable) {
    if (name == e.name) return e.nr;
  }
  for (const auto& e : kNewerTable) {
    if (e.nr >= 0 && name == e.name) return e.nr;
  }
  return std::nullopt;
}

std::string errno_name(int err) {
  switch (err) {  // never seen by user space, but visible to the sys_exit tracepoint
    case 512:
      return "ERESTARTSYS";
    case 513:
      return "ERESTARTNOINTR";
    case 514:
      return "ERESTARTNOHAND";
    case 515:
      return "ENOIOCTLCMD";
    case 516:
      return "ERESTART_RESTARTBLOCK";
    default:
      break;
  }
  if (const char* name = strerrorname_np(err)) return name;
  return fmt::format("E{}", err);
}

std::optional<int> errno_number(std::string_view name) {
  // errno_name's own names first; "E123" is the fallback it gives a number without one.
  constexpr int kLargestNamed = 516;
  for (int err = 1; err <= kLargestNamed; ++err) {
    if (errno_name(err) == name) return err;
  }
  int err = 0;
  if (name.size() > 1 && name.front() == 'E') {
    const auto* end = name.data() + name.size();
    auto [p, ec] = std::from_chars(name.data() + 1, end, err);
    if (ec == std::errc() && p == end && err > 0) return err;
  }
  return std::nullopt;
}

}  // namespace perfscope::syscalls
