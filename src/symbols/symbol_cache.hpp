// The symbol cache: the frames ElfModule::symbolize() gave for each address of one ELF file, kept
// in a file of the user's cache directory, so that a second `perfscope report` of a perf.data
// file (or of another recording of the same programs) names the addresses it has seen before
// without opening the file's DWARF. That open is most of the cost it saves: libdw inflates every
// compressed debug section of a file when it begins it (libc6-dbg's 4 MB debug file of libc:
// about 0.1 s here), before the first lookup.
//
// A cache file serves one module as one reader resolves it with one perfscope build, named by
// its identity (SymbolCacheKey):
//   - the module's build-id, and the file's device, inode, size and modification time (a
//     stripped copy and the unstripped one share a build-id but not their symbols),
//   - the separate debug file in use (path, device, inode, size, modification time), or none:
//     installing or removing a -dbgsym package changes it,
//   - whether inline frames and line numbers were asked for,
//   - the build-id of the running perfscope executable: a new build of the symbolizer's code
//     starts a new cache rather than trusting what an older one wrote,
//   - the effective uid of the reader.
// Only addresses of a module the reader could open itself are looked up in it; what is cached is
// what the reader's own lookup gave.
//
// File layout: "PSSY", u32 version, u64 file size, u64 checksum (cache_file::checksum) of
// everything after these 24 bytes, the identity, u64 entry count, then per entry u64 ELF vaddr,
// u32 frame count, and per frame u8 flags (1 inlined, 2 resolved), u32 line, u32 start_line, u64
// module_offset, the function and the source file (u32 length + bytes). A file that fails any
// check (owner, mode, size, version, checksum, identity, bounds of every count and string) is
// ignored, and written again (atomically) from the lookups of this run. Files of the same module
// under another identity are removed when one is written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "symbols/frame.hpp"

namespace perfscope::symbols {

// A file's identity as the symbol cache compares it.
struct FileStamp {
  std::uint64_t device = 0, inode = 0, size = 0, mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
// The stamp of `path` (stat, symbolic links followed); nothing when it cannot be stat'ed.
std::optional<FileStamp> file_stamp(const std::string& path);

struct SymbolCacheKey {
  std::string build_id;    // the module's, lowercase hex; never empty in a cache
  FileStamp file;          // the module file as opened; zero when it changed and its debug file
                           // stands in
  std::string debug_file;  // the separate debug file in use, or empty
  FileStamp debug;
  bool inline_frames = true;
  bool line_numbers = true;
  std::string program_id;  // program_build_id() of the writer
  std::uint32_t uid = 0;
  bool operator==(const SymbolCacheKey&) const = default;
};

// ElfModule::symbolize()'s frames (module left empty) by ELF vaddr.
using CachedFrames = std::unordered_map<std::uint64_t, std::vector<Frame>>;

// PERFSCOPE_SYMBOL_CACHE when set ("off": empty, no cache), else $XDG_CACHE_HOME/perfscope/
// symbols, else $HOME/.cache/perfscope/symbols; empty when none of them is set.
std::string default_symbol_cache_dir();

// The GNU build-id of this process's executable (its PT_NOTE), lowercase hex; empty when it has
// none (then nothing is cached: no build would be told from another).
const std::string& program_build_id();

// The file that holds the frames of `key` in `dir`: DIR/BUILDID-HASH.bin.
std::string symbol_cache_file(const std::string& dir, const SymbolCacheKey& key);

// The frames cached for `key` in `file` when the file passes every check; nothing otherwise.
std::optional<CachedFrames> read_symbol_cache(const std::string& file, const SymbolCacheKey& key);

// Writes `frames` for `key` to `file` (directory 0700, file 0600, temporary name then rename)
// and removes the directory's other files of this module's build-id owned by this user. False
// when it could not be written, or the key has no build-id or program id.
bool write_symbol_cache(const std::string& file, const SymbolCacheKey& key,
                        const CachedFrames& frames);

}  // namespace perfscope::symbols
