// Errors that reach Python. The bindings validate user input and throw these;
// module.cpp registers them so they surface as Python's ValueError and
// TypeError. Kernels never validate input: they may only assert invariants.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pyengine {

struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// "(8, 3, 32, 32)" — the notation the Python side uses for shapes.
inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) s << ',';
  s << ')';
  return s.str();
}

// Concatenates its arguments with operator<<, for messages such as
// fail_value("gemm: a has ", k1, " columns but b has ", k2, " rows").
template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}

template <typename... Args>
[[noreturn]] void fail_value(const Args&... args) {
  throw ValueError(str_cat(args...));
}

template <typename... Args>
[[noreturn]] void fail_type(const Args&... args) {
  throw TypeError(str_cat(args...));
}

}  // namespace pyengine
