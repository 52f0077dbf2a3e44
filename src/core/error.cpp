#include "core/error.hpp"

#include <cstring>

namespace perfscope {

std::string Error::message() const {
  if (errnum == 0) return op;
  return op + ": " + std::strerror(errnum);
}

std::string Error::describe() const {
  if (hint.empty()) return message();
  return message() + "\n" + hint;
}

Error errno_error(std::string op, std::string hint) {
  return Error{std::move(op), errno, std::move(hint)};
}

}  // namespace perfscope
