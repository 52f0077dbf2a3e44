// demangle(): Itanium C++ names become readable; anything else passes through unchanged.
#include <gtest/gtest.h>

#include "symbols/demangle.hpp"

namespace perfscope::symbols {
namespace {

TEST(SymbolsDemangle, DemanglesFunctionsAndMembers) {
  EXPECT_EQ(demangle("_ZN2ns6Widget4drawEi"), "ns::Widget::draw(int)");
  EXPECT_EQ(demangle("_ZNK2ns6Widget4drawEi"), "ns::Widget::draw(int) const");
  EXPECT_EQ(demangle("_Z3fooPKcm"), "foo(char const*, unsigned long)");
}

TEST(SymbolsDemangle, KeepsCloneSuffixes) {
  EXPECT_EQ(demangle("_Z3fooi.constprop.0"), "foo(int) [clone .constprop.0]");
  EXPECT_EQ(demangle("_Z3barv.cold"), "bar() [clone .cold]");
}

TEST(SymbolsDemangle, ReturnsOtherNamesUnchanged) {
  EXPECT_EQ(demangle("main"), "main");
  EXPECT_EQ(demangle("i"), "i") << "a C function named like a builtin type stays a name";
  EXPECT_EQ(demangle("_Zgarbage"), "_Zgarbage");
  EXPECT_EQ(demangle(""), "");
  EXPECT_EQ(demangle("__libc_start_main"), "__libc_start_main");
}

}  // namespace
}  // namespace perfscope::symbols
