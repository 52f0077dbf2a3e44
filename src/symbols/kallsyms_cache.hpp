// The kallsyms cache: the parsed, sorted kernel symbol table (KernelSymbols) kept in a file of the
// user's cache directory, so that a second `perfscope report` of a perf.data file on the same
// running kernel skips /proc/kallsyms (the kernel formats its 100,000+ lines on every read: 60-90
// ms here) and the parse.
//
// A cache file serves one reader on one running kernel, named by its identity:
//   - the kernel's build-id (the GNU build-id note of /sys/kernel/notes),
//   - the boot id (/proc/sys/kernel/random/boot_id: a new one every boot, so a new KASLR offset),
//   - a hash of /proc/modules (modules loaded or unloaded change the table),
//   - the effective uid of the reader,
//   - the first line of /proc/kallsyms as this reader sees it now (a 4 KiB read: the kernel
//     shows each reader real addresses or zeros by kptr_restrict, perf_event_paranoid and the
//     reader's capabilities, so this line says what this reader may see, whatever the file says).
// When that first line shows a zero address, the addresses are hidden from this reader: the table
// is the hidden one (nothing resolves), no cache file is read or written. A cache written by root
// therefore never gives its addresses to a reader the kernel hides them from, even when the file
// is copied or handed over: it must also be owned by the reader, private (mode 0600, no group or
// other bits), and its identity must equal the reader's own.
//
// File layout: "PSKS", u32 version, u64 file size, u64 FNV-1a checksum of everything after these
// 24 bytes, the identity (length-prefixed strings, u64 modules hash, u32 uid), then
// KernelSymbols::to_bytes(). A file that fails any check (owner, mode, size, version, checksum,
// identity, the table's own checks) is ignored: /proc/kallsyms is read and the file rewritten
// (atomically: written under a temporary name, then renamed over). What the kernel changes
// without /proc/modules changing (BPF programs and ftrace trampolines appearing in kallsyms) is
// not seen until the next boot or module change: those addresses are "not in kallsyms".
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "symbols/kallsyms.hpp"

namespace perfscope::symbols {

struct KallsymsCacheOptions {
  std::string dir;  // where the cache file lives; empty: no cache (read kallsyms every time)
  std::string kallsyms_path = "/proc/kallsyms";
  std::string modules_path = "/proc/modules";
  std::string notes_path = "/sys/kernel/notes";
  std::string boot_id_path = "/proc/sys/kernel/random/boot_id";
};

// What identifies one reader's view of one running kernel (above).
struct KernelIdentity {
  std::string build_id;  // lowercase hex; empty when the notes cannot be read
  std::string boot_id;
  std::uint64_t modules_hash = 0;
  std::uint32_t uid = 0;
  std::string first_line;  // kallsyms' first line as this reader reads it
  bool addresses_hidden = false;
  bool operator==(const KernelIdentity&) const = default;
};

// The identity of the kernel for this process; nothing when the boot id or kallsyms' first line
// cannot be read (then nothing is cached). `head` receives kallsyms' first 4 KiB.
std::optional<KernelIdentity> kernel_identity(const KallsymsCacheOptions& options,
                                              std::string* head = nullptr);

// PERFSCOPE_KALLSYMS_CACHE when set ("off": empty, no cache), else $XDG_CACHE_HOME/perfscope/
// kallsyms, else $HOME/.cache/perfscope/kallsyms; empty when none of them is set.
std::string default_kallsyms_cache_dir();

// The file that holds the table of `id` in `dir`.
std::string kallsyms_cache_file(const std::string& dir, const KernelIdentity& id);

// The table cached for `id` in `file`, when the file passes every check; nothing otherwise.
std::optional<KernelSymbols> read_kallsyms_cache(const std::string& file, const KernelIdentity& id);

// Writes `symbols` for `id` to `file` (directory created mode 0700, file mode 0600, written to a
// temporary name then renamed), and removes the directory's other kallsyms cache files of this
// user (an older boot's or module set's). False when it could not be written.
bool write_kallsyms_cache(const std::string& file, const KernelIdentity& id,
                          const KernelSymbols& symbols);

// Where load_kernel_symbols() found the table.
enum class KallsymsSource {
  cache,     // a cache file
  kallsyms,  // /proc/kallsyms (and the cache file written, when there is a cache directory)
  hidden,    // the first line showed hidden addresses: the table resolves nothing
};

// KernelSymbols::load(kallsyms_path, modules_path), through the cache of options.dir.
Result<KernelSymbols> load_kernel_symbols(const KallsymsCacheOptions& options,
                                          KallsymsSource* source = nullptr);

}  // namespace perfscope::symbols
