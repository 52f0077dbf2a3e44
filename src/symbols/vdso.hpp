// This process's vDSO as a file. Every process of a kernel maps the same vDSO image, so our own
// copy symbolizes (and unwinds) the [vdso] frames of any sampled process.
#pragma once

#include <string>

namespace perfscope::symbols {

// A path to a copy of this process's vDSO (a memfd, /proc/self/fd/N, open until exit), made on
// the first call; empty when the vDSO cannot be found or copied. Thread-safe.
const std::string& vdso_image_path();

}  // namespace perfscope::symbols
