#include "symbols/symbolizer.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <optional>
#include <unordered_map>

#include "symbols/elf_module.hpp"
#include "symbols/kallsyms.hpp"
#include "symbols/kallsyms_cache.hpp"
#include "symbols/perf_map.hpp"
#include "symbols/symbol_cache.hpp"

namespace perfscope::symbols {
namespace {

constexpr std::string_view kKernelModule = "[kernel.kallsyms]";

using FrameCache = std::unordered_map<std::uint64_t, std::vector<Frame>>;

// "cannot read PATH: No such file or directory" from a read_text_file() error.
std::string cannot_read(const std::string& path, const Error& e) {
  return "cannot read " + path + (e.errnum != 0 ? ": " + std::string(std::strerror(e.errnum)) : "");
}

Result<KernelSymbols> load_kernel_symbols_of(const SymbolizerOptions& o) {
  if (o.kallsyms_cache_dir.empty()) return KernelSymbols::load(o.kallsyms_path, o.modules_path);
  return load_kernel_symbols({.dir = o.kallsyms_cache_dir,
                              .kallsyms_path = o.kallsyms_path,
                              .modules_path = o.modules_path});
}

std::string basename_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

struct Symbolizer::Impl {
  SymbolizerOptions options;
  Stats stats;

  bool kernel_tried = false;
  std::future<Result<KernelSymbols>> kernel_loading;  // valid after prefetch_kernel()
  std::optional<KernelSymbols> kernel;
  std::string kernel_failure;
  FrameCache kernel_frames;

  struct Module {
    std::unique_ptr<ElfModule> elf;  // null when it could not be loaded
    std::string path;                // the path it was first loaded under
    std::string failure;             // why elf is null
    FrameCache frames;               // by ELF vaddr; by file offset when elf is null
    // The symbol cache (symbol_cache.hpp): its file (empty: none), what it held and was not yet
    // served, and this run's lookups it did not hold, written back at the end.
    std::string cache_file;
    SymbolCacheKey cache_key;
    CachedFrames cached, looked_up;
  };
  std::vector<std::unique_ptr<Module>> modules;
  // "build-id:HEX" and "path:OPEN_PATH" keys; several may name one module.
  std::unordered_map<std::string, Module*> modules_by_key;

  struct Jit {
    std::string path;
    std::optional<PerfMap> map;
    std::string failure;
    FrameCache frames;
  };
  std::unordered_map<int, Jit> jits;

  const std::vector<Frame>& remember(FrameCache& cache, std::uint64_t key,
                                     std::vector<Frame> frames) {
    if (!frames.empty() && frames.back().resolved) {
      ++stats.addresses_resolved;
    } else {
      ++stats.addresses_unknown;
    }
    return cache.emplace(key, std::move(frames)).first->second;
  }

  ~Impl() { save_symbol_caches(); }

  // Reads the module's symbol cache file, when there is a cache directory and the module has a
  // build-id.
  void open_symbol_cache(Module& m, const std::string& open_path) const {
    // [vdso] is read from a copy made anew by every process: its file stamp never repeats, and
    // its few symbols need no cache. Without DWARF names the frames differ from the full ones the
    // key stands for: no cache then.
    if (options.symbol_cache_dir.empty() || !options.dwarf_names || m.elf->build_id().empty() ||
        program_build_id().empty() || m.path.starts_with('[')) {
      return;
    }
    SymbolCacheKey key{.build_id = m.elf->build_id(),
                       .file = {},
                       .debug_file = m.elf->debug_file(),
                       .debug = {},
                       .inline_frames = options.inline_frames,
                       .line_numbers = options.line_numbers,
                       .program_id = program_build_id(),
                       .uid = static_cast<std::uint32_t>(::geteuid())};
    if (m.elf->file() != nullptr) {
      const auto stamp = file_stamp(open_path);
      if (!stamp) return;
      key.file = *stamp;
    }
    if (!key.debug_file.empty()) {
      const auto stamp = file_stamp(key.debug_file);
      if (!stamp) return;
      key.debug = *stamp;
    }
    m.cache_file = symbol_cache_file(options.symbol_cache_dir, key);
    if (auto cached = read_symbol_cache(m.cache_file, key)) m.cached = std::move(*cached);
    m.cache_key = std::move(key);
  }

  // Only when a module gained addresses: its file is read again (the addresses served from it
  // were moved out of `cached`), joined by what was not served and this run's new lookups.
  void save_symbol_caches() {
    for (auto& m : modules) {
      if (m->cache_file.empty() || m->looked_up.empty()) continue;
      CachedFrames all = read_symbol_cache(m->cache_file, m->cache_key).value_or(CachedFrames{});
      all.merge(m->cached);
      all.merge(m->looked_up);
      // A module's cache grows with the addresses seen; past this many it is not extended.
      constexpr std::size_t kMaxAddresses = 1'000'000;
      if (all.size() > kMaxAddresses) continue;
      write_symbol_cache(m->cache_file, m->cache_key, all);
      m->looked_up.clear();  // written: not again
    }
  }

  // The last mapping's module: a stack's frames come in runs of one file, and module_for's keys
  // are strings built and hashed on every call.
  std::string last_path, last_open_path, last_build_id;
  Module* last_module = nullptr;

  Module* module_for(const MappedFile& mapping) {
    if (last_module != nullptr && mapping.path == last_path &&
        mapping.open_path == last_open_path && mapping.build_id == last_build_id) {
      return last_module;
    }
    last_module = find_module(mapping);
    last_path = mapping.path;
    last_open_path = mapping.open_path;
    last_build_id = mapping.build_id;
    return last_module;
  }

  Module* find_module(const MappedFile& mapping) {
    const std::string& open_path = mapping.open_path.empty() ? mapping.path : mapping.open_path;
    const std::string path_key = "path:" + open_path;
    if (!mapping.build_id.empty()) {
      if (auto it = modules_by_key.find("build-id:" + mapping.build_id);
          it != modules_by_key.end()) {
        return it->second;
      }
    }
    if (auto it = modules_by_key.find(path_key); it != modules_by_key.end()) {
      // A failure under this path holds for any build-id; a success only when the ids agree
      // (or nothing says which id is expected).
      Module* m = it->second;
      if (!m->elf || mapping.build_id.empty() || m->elf->build_id() == mapping.build_id) return m;
    }

    auto module = std::make_unique<Module>();
    module->path = mapping.path;
    auto elf = ElfModule::open(mapping.path, open_path, mapping.build_id, options.debug_dirs);
    if (!elf) {
      module->failure = elf.error().message();
      ++stats.modules_failed;
    } else {
      const std::string id_key = (*elf)->build_id().empty() ? "" : "build-id:" + (*elf)->build_id();
      if (!id_key.empty()) {
        if (auto it = modules_by_key.find(id_key); it != modules_by_key.end()) {
          // The same file under another path (a symlink, another container): reuse it.
          modules_by_key[path_key] = it->second;
          return it->second;
        }
      }
      module->elf = std::move(*elf);
      open_symbol_cache(*module, open_path);
      ++stats.modules_loaded;
      if (!module->elf->has_symbols()) ++stats.modules_without_symbols;
      if (!id_key.empty()) modules_by_key[id_key] = module.get();
    }
    // Failures stay keyed by path only: another process may reach the same build-id elsewhere.
    modules_by_key[path_key] = module.get();
    modules.push_back(std::move(module));
    return modules.back().get();
  }
};

Symbolizer::Symbolizer(SymbolizerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
Symbolizer::~Symbolizer() = default;
void Symbolizer::save_symbol_caches() {
  impl_->save_symbol_caches();
}
Symbolizer::Symbolizer(Symbolizer&&) noexcept = default;
Symbolizer& Symbolizer::operator=(Symbolizer&&) noexcept = default;

Frame Symbolizer::unknown(std::string_view reason, std::string_view module) {
  Frame f;
  f.function.reserve(reason.size() + 11);
  f.function.append("[unknown: ").append(reason).append("]");
  f.module = std::string(module);
  return f;
}

Frame Symbolizer::by_address(const Frame& unknown, std::uint64_t looked_back) {
  Frame f;
  f.module = unknown.module;
  f.module_offset = unknown.module_offset + looked_back;
  f.function = fmt::format("{}+{:#x}", basename_of(unknown.module), f.module_offset);
  return f;
}

void Symbolizer::load_kernel() {
  Impl& d = *impl_;
  if (d.kernel_tried) return;
  d.kernel_tried = true;
  auto loaded =
      d.kernel_loading.valid() ? d.kernel_loading.get() : load_kernel_symbols_of(d.options);
  if (loaded) {
    d.kernel = std::move(*loaded);
  } else {
    d.kernel_failure = cannot_read(d.options.kallsyms_path, loaded.error());
  }
}

void Symbolizer::prefetch_kernel() {
  Impl& d = *impl_;
  if (d.kernel_tried || d.kernel_loading.valid()) return;
  d.kernel_loading = std::async(std::launch::async, load_kernel_symbols_of, d.options);
}

std::optional<std::pair<std::uint64_t, std::uint64_t>> Symbolizer::kernel_text_range(
    std::string_view module) {
  load_kernel();
  const Impl& d = *impl_;
  if (!d.kernel) return std::nullopt;
  std::string_view name;  // "" for the kernel image
  if (module != kKernelModule) {
    if (module.size() < 2 || module.front() != '[' || module.back() != ']') return std::nullopt;
    name = module.substr(1, module.size() - 2);
  }
  const auto r = d.kernel->text_range(name);
  if (!r) return std::nullopt;
  return std::pair{r->start, r->end};
}

const std::vector<Frame>& Symbolizer::resolve_kernel(std::uint64_t address) {
  Impl& d = *impl_;
  if (auto it = d.kernel_frames.find(address); it != d.kernel_frames.end()) return it->second;
  load_kernel();
  Frame f;
  if (!d.kernel) {
    f = unknown(d.kernel_failure, kKernelModule);
  } else if (d.kernel->addresses_hidden()) {
    f = unknown("kernel addresses hidden (kptr_restrict / perf_event_paranoid)", kKernelModule);
  } else if (const auto hit = d.kernel->find(address)) {
    f.function = std::string(hit->name);
    f.module =
        hit->module.empty() ? std::string(kKernelModule) : "[" + std::string(hit->module) + "]";
    f.resolved = true;
  } else {
    f = unknown("not in kallsyms", kKernelModule);
  }
  f.module_offset = address;
  std::vector<Frame> frames;
  frames.push_back(std::move(f));
  return d.remember(d.kernel_frames, address, std::move(frames));
}

const std::vector<Frame>& Symbolizer::resolve_user(const MappedFile& mapping,
                                                   std::uint64_t address) {
  Impl& d = *impl_;
  Impl::Module* m = d.module_for(mapping);
  const std::uint64_t file_offset = address - mapping.start + mapping.pgoff;
  if (!m->elf) {
    if (auto it = m->frames.find(file_offset); it != m->frames.end()) return it->second;
    std::vector<Frame> frames;
    frames.push_back(unknown(m->failure, m->path));
    frames.back().module_offset = file_offset;
    return d.remember(m->frames, file_offset, std::move(frames));
  }
  const std::uint64_t vaddr = m->elf->vaddr_for_file_offset(file_offset);
  if (auto it = m->frames.find(vaddr); it != m->frames.end()) return it->second;
  std::vector<Frame> frames;
  if (auto hit = m->cached.find(vaddr); hit != m->cached.end()) {
    frames = std::move(m->cached.extract(hit).mapped());  // each address is served once
  } else {
    m->elf->symbolize(vaddr, d.options.inline_frames, d.options.line_numbers, frames,
                      d.options.dwarf_names);
    if (!m->cache_file.empty()) m->looked_up.emplace(vaddr, frames);
  }
  if (frames.empty()) {
    const std::string name = basename_of(m->path);
    frames.push_back(unknown(
        m->elf->has_symbols() ? "no symbol for this address in " + name : "no symbols in " + name,
        {}));
    frames.back().module_offset = vaddr;
  }
  for (auto& f : frames) f.module = m->path;
  return d.remember(m->frames, vaddr, std::move(frames));
}

const std::vector<Frame>& Symbolizer::resolve_jit(int pid, std::uint64_t address) {
  Impl& d = *impl_;
  auto [it, inserted] = d.jits.try_emplace(pid);
  Impl::Jit& jit = it->second;
  if (inserted) {
    jit.path = d.options.perf_map_dir + "/perf-" + std::to_string(pid) + ".map";
    auto loaded = PerfMap::load(jit.path);
    if (loaded) {
      jit.map = std::move(*loaded);
    } else {
      jit.failure = cannot_read(jit.path, loaded.error());
    }
  }
  if (auto cached = jit.frames.find(address); cached != jit.frames.end()) return cached->second;
  const std::string module = "[jit] " + jit.path;
  Frame f;
  if (!jit.map) {
    f = unknown(jit.failure, module);
  } else if (const PerfMap::Entry* e = jit.map->find(address)) {
    f.function = demangle(e->name);
    f.module = module;
    f.resolved = true;
  } else {
    f = unknown("not in " + jit.path, module);
  }
  f.module_offset = address;
  std::vector<Frame> frames;
  frames.push_back(std::move(f));
  return d.remember(jit.frames, address, std::move(frames));
}

Symbolizer::Stats Symbolizer::stats() const {
  return impl_->stats;
}

}  // namespace perfscope::symbols
