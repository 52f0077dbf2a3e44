#include "symbols/demangle.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>

namespace perfscope::symbols {

std::string demangle(std::string_view mangled) {
  // Only "_Z..." names are mangled; __cxa_demangle would also "demangle" plain type names such as
  // "i" (int), turning a C function called `i` into "int".
  if (mangled.size() < 3 || mangled.substr(0, 2) != "_Z") return std::string(mangled);
  const std::string owned(mangled);  // __cxa_demangle needs a terminating NUL
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(owned.c_str(), nullptr, nullptr, &status), &std::free);
  if (status != 0 || out == nullptr) return owned;
  return std::string(out.get());
}

}  // namespace perfscope::symbols
