// The executable file mappings of a live process, from /proc/PID/maps, as MappedFile values for
// the Symbolizer. Read them while the process exists: afterwards neither the list nor the
// /proc/PID/... paths to open deleted files are available.
#pragma once

#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "symbols/frame.hpp"

namespace perfscope::symbols {

// Parses maps text, keeping executable mappings of files (paths starting with '/'). A path the
// kernel marks " (deleted)" loses the marker and gets open_path /proc/PID/map_files/START-END (the
// only way to the old file; needs CAP_SYS_ADMIN). With `other_root`, the process lives in
// another mount namespace or chroot and open_path is /proc/PID/root/PATH. build_id stays empty.
std::vector<MappedFile> parse_proc_maps(std::string_view text, int pid, bool other_root = false);

// Reads /proc/PID/maps and decides other_root by comparing /proc/PID/root with our own root.
Result<std::vector<MappedFile>> read_proc_maps(int pid);

}  // namespace perfscope::symbols
