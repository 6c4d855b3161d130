#include "bindings/common.h"
#include "kernels/elementwise/elementwise.h"

namespace pyengine {
namespace bind {

namespace {

// y = f(x) for a unary kernel chosen from the table by `pick`.
template <typename Pick>
py::array unary(const py::handle& x_obj, const char* op, Pick pick) {
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "x", &dtype);
  py::array y = empty_array(dtype, shape_of(x));
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    auto fn = pick(unary_kernels_for<T>());
    const T* xp = static_cast<const T*>(x.data());
    T* yp = static_cast<T*>(y.mutable_data());
    py::gil_scoped_release release;
    fn(xp, yp, x.size());
  });
  return y;
}

// dx = dy * f'(x) for a backward kernel chosen by `pick`.
template <typename Pick>
py::array unary_backward(const py::handle& x_obj, const py::handle& dy_obj, const char* op, Pick pick) {
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "x", &dtype);
  py::array dy = contiguous_float(dy_obj, op, "grad_output");
  check_same_dtype(dtype, dy, op, "grad_output");
  if (shape_of(x) != shape_of(dy))
    fail_value(op, ": grad_output has shape ", shape_str(dy), " but x has shape ", shape_str(x));
  py::array dx = empty_array(dtype, shape_of(x));
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    auto fn = pick(unary_kernels_for<T>());
    const T* xp = static_cast<const T*>(x.data());
    const T* dyp = static_cast<const T*>(dy.data());
    T* dxp = static_cast<T*>(dx.mutable_data());
    py::gil_scoped_release release;
    fn(xp, dyp, dxp, x.size());
  });
  return dx;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("relu", [](py::handle x) { return unary(x, "relu", [](const auto& k) { return k.relu; }); },
        py::arg("x"), "max(x, 0), elementwise");
  m.def("relu_backward", [](py::handle x, py::handle dy) {
    return unary_backward(x, dy, "relu_backward", [](const auto& k) { return k.relu_backward; });
  }, py::arg("x"), py::arg("grad_output"), "grad_output * (x > 0)");
}

}  // namespace bind
}  // namespace pyengine
