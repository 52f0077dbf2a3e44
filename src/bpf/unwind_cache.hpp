// The eBPF unwinder's cache of compiled tables (docs/unwinding.md, "The table cache"), so a second
// recording loads its tables without compiling them: one file per version of an ELF file, kept in
// UnwindTables::default_cache_dir(). The file is the symbol layer's private cache file
// (symbols/cache_file.hpp: owned by the reader and mode 0600, checksummed, written under a
// temporary name and renamed); its body holds the identity of the ELF file it was compiled from
// (path, size, mtime, device, inode), the file's PT_LOAD segments and the kernel rows as they go
// into the BPF map.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "unwind/cfi_table.hpp"
#include "unwind_abi.h"

namespace perfscope::bpf::unwind_cache {

// A compiled table as the cache file holds it.
struct Table {
  std::vector<ps_kernel_row> rows;
  std::vector<unwind::LoadSegment> segments;
};

// The table of the ELF file at `path` as it is now, when `dir` holds a whole, valid cache file
// for it, written by this user; nothing otherwise (no cache when `dir` is empty).
std::optional<Table> read(const std::string& dir, const std::string& path);

// Writes the table of the ELF file at `path` into `dir` (created 0700 when missing), then removes
// the oldest files past the directory's bound (512 MiB). False when it could not be written.
bool write(const std::string& dir, const std::string& path, const Table& t);

// The reader's parser alone (the fuzz target's entry): the table in the cache file `bytes` when
// it is whole and valid and was written for the ELF file identity `identity`.
std::optional<Table> parse(std::string_view bytes, std::string_view identity);

// The bytes of the cache file of `t` for `identity` (what write() puts in the file).
std::string encode(std::string_view identity, const Table& t);

}  // namespace perfscope::bpf::unwind_cache
