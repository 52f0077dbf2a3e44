#include "unwind/dwarf_unwinder.hpp"

#include <dwarf.h>
#include <elfutils/libdw.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unordered_map>

#include "symbols/elf_module.hpp"
#include "symbols/vdso.hpp"
#include "unwind/expression.hpp"

namespace perfscope::unwind {
namespace {

enum class Rule : std::uint8_t { undefined, same, location, value };

struct RegisterRule {
  Rule kind = Rule::undefined;
  bool cfa_relative = false;  // the expression is just CFA + offset (DW_CFA_offset, val_offset)
  std::uint16_t count = 0;
  std::uint32_t ops = 0;  // into Module::ops
  std::uint64_t offset = 0;
};

// What CFI says about one pc, flattened out of libdw's Dwarf_Frame so that it can be cached.
struct FrameRule {
  bool found = false;  // some FDE covers the pc
  bool signal = false;
  int return_register = kRegIp;
  std::uint16_t cfa_count = 0;  // 0: the CFA cannot be computed here
  std::uint32_t cfa_ops = 0;
  int cfa_register = -1;  // >= 0: the CFA is that register + cfa_offset (the usual case)
  std::uint64_t cfa_offset = 0;
  RegisterRule regs[kRegisterCount];
};

// Registers a callee must preserve (psABI): when CFI leaves them unspecified they keep their value.
bool callee_saved(int r) {
  return r == 3 || r == kRegBp || (r >= 12 && r <= 15);
}

bool is_file_path(const std::string& path) {
  return !path.empty() && path.front() == '/' && path.rfind("//anon", 0) != 0 &&
         path.rfind("/memfd:", 0) != 0;
}

struct Module {
  std::unique_ptr<symbols::ElfModule> elf;
  std::string path;
  std::string failure;  // why there is no CFI at all
  Dwarf_CFI* eh = nullptr;
  Dwarf* dwarf = nullptr;
  Dwarf_CFI* debug = nullptr;  // owned by `dwarf`
  // .debug_frame is opened on the first address .eh_frame does not cover: libdw inflates every
  // compressed DWARF section of a file it begins (0.1 s for libc6-dbg's), and .eh_frame covers
  // nearly all code.
  bool debug_tried = false;
  std::unordered_map<std::uint64_t, std::uint32_t> rule_at;
  std::vector<FrameRule> rules;
  std::vector<Dwarf_Op> ops;

  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  ~Module() {
    if (eh != nullptr) dwarf_cfi_end(eh);
    if (dwarf != nullptr) dwarf_end(dwarf);
  }

  bool has_cfi() const { return eh != nullptr || debug != nullptr; }

  // .debug_frame: in the separate debug file, else in the file itself.
  void open_debug_frame() {
    if (debug_tried) return;
    debug_tried = true;
    for (Elf* e : {elf->debug_file_elf(), elf->file()}) {
      if (e == nullptr || debug != nullptr) continue;
      if (Dwarf* dw = dwarf_begin_elf(e, DWARF_C_READ, nullptr)) {
        dwarf = dw;
        debug = dwarf_getcfi(dw);
        if (debug == nullptr) {
          dwarf_end(dw);
          dwarf = nullptr;
        }
      }
    }
  }

  std::uint32_t add_ops(const Dwarf_Op* first, std::size_t count) {
    const auto at = static_cast<std::uint32_t>(ops.size());
    ops.insert(ops.end(), first, first + count);
    return at;
  }

  void compile(Dwarf_Frame* frame, FrameRule& rule) {
    rule.found = true;
    Dwarf_Addr start = 0, end = 0;
    bool signal = false;
    const int ra = dwarf_frame_info(frame, &start, &end, &signal);
    rule.signal = signal;
    rule.return_register = ra >= 0 && ra < kRegisterCount ? ra : kRegIp;
    Dwarf_Op* cfa = nullptr;
    std::size_t ncfa = 0;
    if (dwarf_frame_cfa(frame, &cfa, &ncfa) == 0 && ncfa > 0) {
      rule.cfa_ops = add_ops(cfa, ncfa);
      rule.cfa_count = static_cast<std::uint16_t>(ncfa);
      // libdw gives DW_CFA_def_cfa as DW_OP_bregx (register, offset).
      if (ncfa == 1 && cfa[0].atom == DW_OP_bregx && cfa[0].number < kRegisterCount) {
        rule.cfa_register = static_cast<int>(cfa[0].number);
        rule.cfa_offset = cfa[0].number2;
      } else if (ncfa == 1 && cfa[0].atom >= DW_OP_breg0 &&
                 cfa[0].atom < DW_OP_breg0 + kRegisterCount) {
        rule.cfa_register = cfa[0].atom - DW_OP_breg0;
        rule.cfa_offset = cfa[0].number;
      }
    }
    for (int r = 0; r < kRegisterCount; ++r) {
      Dwarf_Op mem[3];
      Dwarf_Op* expr = nullptr;
      std::size_t n = 0;
      RegisterRule& out = rule.regs[r];
      if (dwarf_frame_register(frame, r, mem, &expr, &n) != 0) continue;  // undefined
      if (n == 0) {
        out.kind = expr == nullptr ? Rule::same : Rule::undefined;
        continue;
      }
      out.kind = Rule::location;
      if (expr[n - 1].atom == DW_OP_stack_value) {
        out.kind = Rule::value;
        --n;
      }
      out.ops = add_ops(expr, n);
      out.count = static_cast<std::uint16_t>(n);
      out.cfa_relative = cfa_plus(expr, n, out.offset);
    }
  }

  // The rule for `vaddr` (an ELF address of this module), computed on first use.
  const FrameRule& rule(std::uint64_t vaddr) {
    auto [it, inserted] = rule_at.try_emplace(vaddr, 0);
    if (!inserted) return rules[it->second];
    FrameRule rule;
    for (int source = 0; source < 2 && !rule.found; ++source) {
      if (source == 1) open_debug_frame();
      Dwarf_CFI* cfi = source == 0 ? eh : debug;
      Dwarf_Frame* frame = nullptr;
      if (cfi == nullptr || dwarf_cfi_addrframe(cfi, vaddr, &frame) != 0) continue;
      compile(frame, rule);
      std::free(frame);
    }
    it->second = static_cast<std::uint32_t>(rules.size());
    rules.push_back(rule);
    return rules.back();
  }
};

struct MappingKey {
  sampling::AddressSpaceId space;
  std::uint64_t start;
  bool operator==(const MappingKey&) const = default;
};
struct MappingKeyHash {
  std::size_t operator()(const MappingKey& k) const {
    return std::hash<std::uint64_t>()(k.start ^ (std::uint64_t{k.space} << 48));
  }
};

// A mapping as first seen in one address space, and the module behind it (null: no file).
struct MappingRef {
  std::uint64_t start = 0, end = 0, pgoff = 0;
  std::string path;
  Module* module = nullptr;
};

// The copied stack: [sp, sp + bytes.size()) of the process as it was when sampled.
class StackCopy {
 public:
  StackCopy(std::uint64_t sp, std::span<const std::byte> bytes, std::uint64_t requested)
      : sp_(sp), bytes_(bytes), full_(requested > 0 && bytes.size() >= requested) {}

  bool read(std::uint64_t address, std::uint64_t& value) {
    if (address >= sp_ && address - sp_ <= bytes_.size() && bytes_.size() - (address - sp_) >= 8) {
      std::memcpy(&value, bytes_.data() + (address - sp_), 8);
      return true;
    }
    // Above the copy: the stack goes on there only when the copy stopped at the size asked for
    // (a shorter copy means the kernel reached the end of the stack mapping).
    const bool above = address >= sp_ + bytes_.size() && address - sp_ < (std::uint64_t{1} << 26);
    fault_ = above && full_ ? StopReason::stack_too_small : StopReason::unreadable;
    return false;
  }
  StopReason fault() const { return fault_; }

 private:
  std::uint64_t sp_;
  std::span<const std::byte> bytes_;
  bool full_;
  StopReason fault_ = StopReason::unreadable;
};

}  // namespace

const char* describe(StopReason reason) {
  switch (reason) {
    case StopReason::outermost:
      return "complete";
    case StopReason::no_unwind_info:
      return "no unwind information";
    case StopReason::stack_too_small:
      return "stack copy too small";
    case StopReason::unreadable:
      return "unreadable memory";
    case StopReason::outside_mappings:
      return "address outside every mapping";
    case StopReason::bad_frame:
      return "unusable frame (register missing or stack not moving up)";
    case StopReason::too_deep:
      return "deeper than the frame limit";
  }
  return "?";
}

struct DwarfUnwinder::Impl {
  UnwinderOptions options;
  std::vector<std::unique_ptr<Module>> modules;
  std::unordered_map<std::string, Module*> modules_by_key;  // "build-id:HEX", "path:PATH"
  std::unordered_map<MappingKey, MappingRef, MappingKeyHash> mappings;
  // The mapping of the previous frame: callers are mostly in the same module.
  const MappingRef* last = nullptr;
  sampling::AddressSpaceId last_space = 0;
  const sampling::AddressSpace* last_space_ptr = nullptr;

  Module* open_module(const sampling::Mapping& m) {
    const std::string path_key = "path:" + m.path;
    if (!m.build_id.empty()) {
      if (auto it = modules_by_key.find("build-id:" + m.build_id); it != modules_by_key.end()) {
        return it->second;
      }
    }
    if (auto it = modules_by_key.find(path_key); it != modules_by_key.end()) return it->second;

    auto module = std::make_unique<Module>();
    module->path = m.path;
    const std::string& open_path = m.path == "[vdso]" ? symbols::vdso_image_path() : m.path;
    if (open_path.empty()) {
      module->failure = "cannot read this process's vDSO";
    } else if (auto elf =
                   symbols::ElfModule::open(m.path, open_path, m.build_id, options.debug_dirs)) {
      module->elf = std::move(*elf);
      Elf* file = module->elf->file();
      if (file != nullptr) module->eh = dwarf_getcfi_elf(file);
      // Without .eh_frame, .debug_frame is all there is: opened now, to know.
      if (module->eh == nullptr) module->open_debug_frame();
      if (!module->has_cfi()) module->failure = "no .eh_frame or .debug_frame";
    } else {
      module->failure = elf.error().message();
    }
    Module* raw = module.get();
    modules.push_back(std::move(module));
    modules_by_key[path_key] = raw;
    if (!m.build_id.empty()) modules_by_key["build-id:" + m.build_id] = raw;
    return raw;
  }

  // The mapping holding `pc` and its module; null when no mapping holds it.
  const MappingRef* mapping_at(const sampling::AddressSpace& space, sampling::AddressSpaceId id,
                               std::uint64_t pc) {
    if (last != nullptr && last_space == id && last_space_ptr == &space && pc >= last->start &&
        pc < last->end) {
      return last;
    }
    const sampling::Mapping* m = space.find(pc);
    if (m == nullptr) return nullptr;
    auto [it, inserted] = mappings.try_emplace(MappingKey{id, m->start});
    MappingRef& ref = it->second;
    if (inserted || ref.end != m->end || ref.pgoff != m->pgoff || ref.path != m->path) {
      ref.end = m->end;
      ref.pgoff = m->pgoff;
      ref.path = m->path;
      ref.module = is_file_path(m->path) || m->path == "[vdso]" ? open_module(*m) : nullptr;
    }
    ref.start = m->start;
    last = &ref;
    last_space = id;
    last_space_ptr = &space;
    return &ref;
  }
};

DwarfUnwinder::DwarfUnwinder(UnwinderOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
DwarfUnwinder::~DwarfUnwinder() = default;

std::size_t DwarfUnwinder::modules_opened() const {
  return impl_->modules.size();
}

std::size_t DwarfUnwinder::rules_cached() const {
  std::size_t n = 0;
  for (const auto& m : impl_->modules) n += m->rules.size();
  return n;
}

void DwarfUnwinder::unwind(const sampling::AddressSpace& space, sampling::AddressSpaceId space_id,
                           const sampling::UserStack& stack, std::vector<std::uint64_t>& pcs) {
  timespec a{}, b{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  unwind_one(space, space_id, stack, pcs);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  stats_.cpu_ns +=
      static_cast<std::uint64_t>((b.tv_sec - a.tv_sec) * 1'000'000'000LL + (b.tv_nsec - a.tv_nsec));
}

StopReason DwarfUnwinder::unwind_one(const sampling::AddressSpace& space,
                                     sampling::AddressSpaceId space_id,
                                     const sampling::UserStack& stack,
                                     std::vector<std::uint64_t>& pcs) {
  Impl& d = *impl_;
  d.last = nullptr;  // the address space may have changed since the previous sample
  Registers regs = from_sample(stack.regs, d.options.regs_mask);
  if (!regs.has(kRegIp)) return StopReason::bad_frame;  // no user registers: nothing to count
  ++stats_.samples;
  stats_.stack_bytes_requested = stack.requested;
  if (stack.requested > 0 && stack.stack.size() >= stack.requested) ++stats_.full_copies;
  const auto finish = [&](StopReason reason) {
    ++stats_.by_reason[static_cast<int>(reason)];
    return reason;
  };
  pcs.push_back(regs.get(kRegIp));
  ++stats_.frames;
  if (!regs.has(kRegSp)) return finish(StopReason::bad_frame);

  StackCopy copy(regs.get(kRegSp), stack.stack, stack.requested);
  const ReadWord read = [&copy](std::uint64_t a, std::uint64_t& v) { return copy.read(a, v); };
  bool exact = true;  // the pc is where execution is, not a return address
  for (std::size_t depth = 1;; ++depth) {
    if (depth >= d.options.max_frames) return finish(StopReason::too_deep);
    const std::uint64_t pc = regs.get(kRegIp);
    const MappingRef* mapping = d.mapping_at(space, space_id, pc);
    if (mapping == nullptr) return finish(StopReason::outside_mappings);
    if (mapping->module == nullptr || !mapping->module->has_cfi()) {
      ++stats_.no_unwind_info_modules[mapping->module == nullptr
                                          ? "[anonymous memory: JIT or generated code]"
                                          : mapping->module->path];
      return finish(StopReason::no_unwind_info);
    }
    Module& module = *mapping->module;
    const std::uint64_t lookup = exact ? pc : pc - 1;
    const std::uint64_t vaddr =
        module.elf->vaddr_for_file_offset(lookup - mapping->start + mapping->pgoff);
    const FrameRule& rule = module.rule(vaddr);
    if (!rule.found) {
      ++stats_.no_unwind_info_modules[module.path];
      return finish(StopReason::no_unwind_info);
    }
    if (rule.cfa_count == 0) return finish(StopReason::bad_frame);

    std::uint64_t cfa = 0;
    bool is_value = false;
    EvalStatus st = EvalStatus::ok;
    if (rule.cfa_register >= 0) {
      if (!regs.has(rule.cfa_register)) return finish(StopReason::bad_frame);
      cfa = regs.get(rule.cfa_register) + rule.cfa_offset;
    } else {
      st = evaluate({module.ops.data() + rule.cfa_ops, rule.cfa_count}, regs, false, 0, read, cfa,
                    is_value);
      if (st == EvalStatus::bad_memory) return finish(copy.fault());
      if (st != EvalStatus::ok) return finish(StopReason::bad_frame);
    }

    Registers caller;
    StopReason ra_failure = StopReason::bad_frame;
    for (int r = 0; r < kRegisterCount; ++r) {
      const RegisterRule& rr = rule.regs[r];
      switch (rr.kind) {
        case Rule::undefined:
          if (r != rule.return_register && callee_saved(r) && regs.has(r)) {
            caller.set(r, regs.get(r));
          }
          break;
        case Rule::same:
          if (regs.has(r)) caller.set(r, regs.get(r));
          break;
        case Rule::location:
        case Rule::value: {
          std::uint64_t v = 0;
          st = evaluate({module.ops.data() + rr.ops, rr.count}, regs, true, cfa, read, v, is_value);
          if (st == EvalStatus::ok && rr.kind == Rule::location && !copy.read(v, v)) {
            st = EvalStatus::bad_memory;
          }
          if (st == EvalStatus::ok) {
            caller.set(r, v);
          } else if (r == rule.return_register && st == EvalStatus::bad_memory) {
            ra_failure = copy.fault();
          }
          break;
        }
      }
    }
    const RegisterRule& ra = rule.regs[rule.return_register];
    if (ra.kind == Rule::undefined) return finish(StopReason::outermost);
    if (!caller.has(rule.return_register)) return finish(ra_failure);
    // The CFA is the caller's stack pointer unless CFI says where it was saved.
    if (rule.regs[kRegSp].kind == Rule::undefined || rule.regs[kRegSp].kind == Rule::same) {
      caller.set(kRegSp, cfa);
    }
    const std::uint64_t next_pc = caller.get(rule.return_register);
    caller.set(kRegIp, next_pc);
    if (next_pc == 0) return finish(StopReason::outermost);
    if (!rule.signal && caller.get(kRegSp) <= regs.get(kRegSp)) {
      return finish(StopReason::bad_frame);
    }
    pcs.push_back(next_pc);
    ++stats_.frames;
    regs = caller;
    exact = rule.signal;
  }
}

}  // namespace perfscope::unwind
