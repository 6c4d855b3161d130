// Shared helpers of the bindings: dtype dispatch, argument checks with the
// op and argument named in the message, output allocation. Only csrc/bindings
// includes pybind11.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/check.h"

namespace pyengine {
namespace bind {

namespace py = pybind11;

enum class DType { f32, f64 };

inline const char* dtype_name(DType d) { return d == DType::f32 ? "float32" : "float64"; }

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string shape_str(const py::array& a) { return pyengine::shape_str(shape_of(a)); }

// The dtype of a float32/float64 array; TypeError naming op and argument otherwise.
inline DType float_dtype(const py::array& a, const char* op, const char* arg) {
  if (a.dtype().kind() == 'f' && a.itemsize() == 4) return DType::f32;
  if (a.dtype().kind() == 'f' && a.itemsize() == 8) return DType::f64;
  fail_type(op, ": ", arg, " must be float32 or float64, got ", std::string(py::str(a.dtype())));
}

// Converts obj to an ndarray (no copy when it already is one). Non-arrays
// (lists, scalars) are refused: the Python layer decides conversions.
inline py::array as_array(const py::handle& obj, const char* op, const char* arg) {
  if (!py::isinstance<py::array>(obj))
    fail_type(op, ": ", arg, " must be a numpy.ndarray, got ", std::string(py::str(py::type::of(obj).attr("__name__"))));
  return py::reinterpret_borrow<py::array>(obj);
}

// A float array as C-contiguous data of its own dtype: returned as is when it
// already is, copied once otherwise (non-contiguous, negative strides).
inline py::array contiguous_float(const py::handle& obj, const char* op, const char* arg, DType* dtype = nullptr) {
  py::array a = as_array(obj, op, arg);
  const DType d = float_dtype(a, op, arg);
  if (dtype) *dtype = d;
  if (a.flags() & py::array::c_style) return a;
  if (d == DType::f32) return py::array_t<float, py::array::c_style>::ensure(a);
  return py::array_t<double, py::array::c_style>::ensure(a);
}

// Requires every array in `arrays` to have `dtype`; TypeError naming the first that does not.
inline void check_same_dtype(DType dtype, const py::array& a, const char* op, const char* arg) {
  if (float_dtype(a, op, arg) != dtype)
    fail_type(op, ": ", arg, " has dtype ", std::string(py::str(a.dtype())), " but the other operands are ", dtype_name(dtype));
}

inline py::array empty_array(DType dtype, const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  if (dtype == DType::f32) return py::array_t<float>(s);
  return py::array_t<double>(s);
}

// Element strides of an array (NumPy counts bytes). Every stride of an
// aligned float array is a multiple of the item size; one that is not (a view
// into a packed record) is refused rather than read wrongly.
inline std::vector<int64_t> element_strides(const py::array& a, const char* op, const char* arg) {
  std::vector<int64_t> s(a.ndim());
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (a.strides(d) % a.itemsize() != 0)
      fail_value(op, ": ", arg, " has a stride of ", a.strides(d), " bytes, not a multiple of its item size");
    s[d] = a.strides(d) / a.itemsize();
  }
  return s;
}

inline void check_writable(const py::array& a, const char* op, const char* arg) {
  if (!a.writeable()) fail_value(op, ": ", arg, " is read-only");
}

// Whether two arrays can touch a common byte: the span [first, last] each
// reaches through its strides; empty arrays touch none.
inline bool overlaps(const py::array& x, const py::array& y) {
  auto range = [](const py::array& a, const char*& lo, const char*& hi) {
    lo = hi = static_cast<const char*>(a.data());
    if (a.size() == 0) return false;
    for (py::ssize_t d = 0; d < a.ndim(); ++d) {
      const py::ssize_t step = a.strides(d) * (a.shape(d) - 1);
      (step < 0 ? lo : hi) += step;
    }
    hi += a.itemsize() - 1;
    return true;
  };
  const char *xlo, *xhi, *ylo, *yhi;
  if (!range(x, xlo, xhi) || !range(y, ylo, yhi)) return false;
  return xlo <= yhi && ylo <= xhi;
}

// An array the op writes in place: float, C-contiguous and writable (a copy
// would leave the caller's array untouched).
inline py::array in_place_array(const py::handle& obj, const char* op, const char* arg) {
  py::array a = as_array(obj, op, arg);
  float_dtype(a, op, arg);
  if (!(a.flags() & py::array::c_style))
    fail_value(op, ": ", arg, " must be C-contiguous (it is updated in place), got strides ",
               pyengine::shape_str(element_strides(a, op, arg)));
  check_writable(a, op, arg);
  return a;
}

// Calls fn(T{}) with T = float or double for the dtype: the one place the
// bindings turn a runtime dtype into a template argument.
template <typename F>
auto dispatch_float(DType dtype, F&& fn) {
  if (dtype == DType::f32) return fn(float{});
  return fn(double{});
}

}  // namespace bind
}  // namespace pyengine
