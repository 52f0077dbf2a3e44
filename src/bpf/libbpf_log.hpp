// libbpf reports through a print callback, and the library never prints: both BPF backends keep
// libbpf's warnings here, and the last lines go into the Error of a failed load.
#pragma once

#include <string>

namespace perfscope::bpf {

// Installs the callback (for this thread's libbpf calls) and forgets earlier output.
void capture_libbpf_output();
// The last few lines libbpf wrote, each on its own line indented as "  libbpf: ...".
std::string libbpf_tail();

}  // namespace perfscope::bpf
