// C++ symbol demangling (Itanium ABI, as g++ and clang emit it).
#pragma once

#include <string>
#include <string_view>

namespace perfscope::symbols {

// "_ZN2ns6Widget4drawEi" -> "ns::Widget::draw(int)"; clone suffixes are kept
// ("foo(int) [clone .constprop.0]"). Returns the input unchanged when it is not a mangled name
// or cannot be demangled. Thread-safe.
std::string demangle(std::string_view mangled);

}  // namespace perfscope::symbols
