#include <initializer_list>
#include <utility>

#include "bindings/common.h"
#include "kernels/elementwise/elementwise.h"

namespace pyengine {
namespace bind {

namespace {

using Arg = std::pair<py::handle, const char*>;  // an argument and its name in messages

// Checks the array arguments of an elementwise op (float dtype, the dtype
// and shape of the first), makes them C-contiguous, allocates the output of
// that shape and calls call(T{}, a, b, out, n) without the GIL; b is null for
// a single input.
template <typename Call>
py::array elementwise(const char* op, std::initializer_list<Arg> args, const Call& call) {
  DType dtype;
  const Arg* first = args.begin();
  py::array a = contiguous_float(first->first, op, first->second, &dtype);
  py::array b;
  if (args.size() > 1) {
    const Arg* second = first + 1;
    b = contiguous_float(second->first, op, second->second);
    check_same_dtype(dtype, b, op, second->second);
    if (shape_of(a) != shape_of(b))
      fail_value(op, ": ", second->second, " has shape ", shape_str(b), " but ", first->second, " has shape ",
                 shape_str(a));
  }
  py::array out = empty_array(dtype, shape_of(a));
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    const T* ap = static_cast<const T*>(a.data());
    const T* bp = args.size() > 1 ? static_cast<const T*>(b.data()) : nullptr;
    T* outp = static_cast<T*>(out.mutable_data());
    const int64_t n = out.size();
    py::gil_scoped_release release;
    call(t, ap, bp, outp, n);
  });
  return out;
}

// The last axis is the softmax axis: (rows, cols) of a C-contiguous array.
std::pair<int64_t, int64_t> rows_cols(const py::handle& x_obj, const char* op, const char* arg) {
  const py::array x = as_array(x_obj, op, arg);
  if (x.ndim() == 0) fail_value(op, ": ", arg, " must have at least one dimension, got shape ()");
  const int64_t cols = x.shape(x.ndim() - 1);
  return {cols == 0 ? 0 : x.size() / cols, cols};
}

// y = f(x) for the kernel `pick` chooses from the unary table.
template <typename Pick>
void def_unary(py::module_& m, const char* op, ElementCost cost, Pick pick, const char* doc) {
  m.def(op, [op, cost, pick](py::handle x) {
    return elementwise(op, {{x, "x"}}, [&](auto t, const auto* xp, const auto*, auto* yp, int64_t n) {
      run_unary(pick(unary_kernels_for<decltype(t)>()), xp, yp, n, cost);
    });
  }, py::arg("x"), doc);
}

// dx = dy * f'(...) from `arg` (the forward input x or output y).
template <typename Pick>
void def_unary_backward(py::module_& m, const char* op, const char* arg, ElementCost cost, Pick pick,
                        const char* doc) {
  m.def(op, [op, arg, cost, pick](py::handle a, py::handle dy) {
    return elementwise(op, {{a, arg}, {dy, "grad_output"}},
                       [&](auto t, const auto* ap, const auto* dyp, auto* dxp, int64_t n) {
                         run_unary_backward(pick(unary_kernels_for<decltype(t)>()), ap, dyp, dxp, n, cost);
                       });
  }, py::arg(arg), py::arg("grad_output"), doc);
}

// Row-wise forward along the last axis.
template <typename Pick>
void def_rows(py::module_& m, const char* op, Pick pick, const char* doc) {
  m.def(op, [op, pick](py::handle x) {
    const auto [rows, cols] = rows_cols(x, op, "x");
    return elementwise(op, {{x, "x"}}, [&, rows = rows, cols = cols](auto t, const auto* xp, const auto*, auto* yp,
                                                                    int64_t) {
      run_rows(pick(softmax_kernels_for<decltype(t)>()), xp, yp, rows, cols);
    });
  }, py::arg("x"), doc);
}

// Row-wise backward from the forward output y.
template <typename Pick>
void def_rows_backward(py::module_& m, const char* op, Pick pick, const char* doc) {
  m.def(op, [op, pick](py::handle y, py::handle dy) {
    const auto [rows, cols] = rows_cols(y, op, "y");
    return elementwise(op, {{y, "y"}, {dy, "grad_output"}},
                       [&, rows = rows, cols = cols](auto t, const auto* yp, const auto* dyp, auto* dxp, int64_t) {
                         run_rows_backward(pick(softmax_kernels_for<decltype(t)>()), yp, dyp, dxp, rows, cols);
                       });
  }, py::arg("y"), py::arg("grad_output"), doc);
}

py::array sum_py(const py::handle& x_obj) {
  DType dtype;
  const py::array x = contiguous_float(x_obj, "sum", "x", &dtype);
  py::array out = empty_array(dtype, {});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    const T* xp = static_cast<const T*>(x.data());
    const int64_t n = x.size();
    double s;
    {
      py::gil_scoped_release release;
      s = sum(xp, n);
    }
    *static_cast<T*>(out.mutable_data()) = static_cast<T>(s);
  });
  return out;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  using C = ElementCost;
  def_unary(m, "relu", C::light, [](const auto& k) { return k.relu; }, "max(x, 0), elementwise");
  def_unary(m, "exp", C::heavy, [](const auto& k) { return k.exp; }, "e^x, elementwise");
  def_unary(m, "log", C::heavy, [](const auto& k) { return k.log; }, "natural logarithm, elementwise");
  def_unary(m, "tanh", C::heavy, [](const auto& k) { return k.tanh; }, "tanh(x), elementwise");
  def_unary(m, "sigmoid", C::heavy, [](const auto& k) { return k.sigmoid; }, "1 / (1 + e^-x), elementwise");
  def_unary(m, "gelu", C::heavy, [](const auto& k) { return k.gelu; },
            "x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact GELU");
  def_unary(m, "erf", C::heavy, [](const auto& k) { return k.erf; }, "the error function, elementwise");

  m.def("leaky_relu", [](py::handle x, double slope) {
    return elementwise("leaky_relu", {{x, "x"}}, [&](auto t, const auto* xp, const auto*, auto* yp, int64_t n) {
      using T = decltype(t);
      run_unary(unary_kernels_for<T>().leaky_relu, xp, yp, n, static_cast<T>(slope));
    });
  }, py::arg("x"), py::arg("negative_slope") = 0.01, "x if x > 0 else negative_slope * x");
  m.def("leaky_relu_backward", [](py::handle x, py::handle dy, double slope) {
    return elementwise("leaky_relu_backward", {{x, "x"}, {dy, "grad_output"}},
                       [&](auto t, const auto* xp, const auto* dyp, auto* dxp, int64_t n) {
                         using T = decltype(t);
                         run_unary_backward(unary_kernels_for<T>().leaky_relu_backward, xp, dyp, dxp, n,
                                            static_cast<T>(slope));
                       });
  }, py::arg("x"), py::arg("grad_output"), py::arg("negative_slope") = 0.01,
        "grad_output * (1 if x > 0 else negative_slope)");

  def_unary_backward(m, "relu_backward", "x", C::light, [](const auto& k) { return k.relu_backward; },
                     "grad_output * (x > 0)");
  def_unary_backward(m, "gelu_backward", "x", C::heavy, [](const auto& k) { return k.gelu_backward; },
                     "grad_output * (Phi(x) + x phi(x)), from the forward input x");
  def_unary_backward(m, "tanh_backward", "y", C::light, [](const auto& k) { return k.tanh_backward; },
                     "grad_output * (1 - y^2), from the forward output y = tanh(x)");
  def_unary_backward(m, "sigmoid_backward", "y", C::light, [](const auto& k) { return k.sigmoid_backward; },
                     "grad_output * y * (1 - y), from the forward output y = sigmoid(x)");

  def_rows(m, "softmax", [](const auto& k) { return k.softmax; }, "softmax along the last axis");
  def_rows(m, "log_softmax", [](const auto& k) { return k.log_softmax; }, "log of softmax along the last axis");
  def_rows_backward(m, "softmax_backward", [](const auto& k) { return k.softmax_backward; },
                    "y * (grad_output - sum(grad_output * y, -1)), from the forward output y");
  def_rows_backward(m, "log_softmax_backward", [](const auto& k) { return k.log_softmax_backward; },
                    "grad_output - exp(y) * sum(grad_output, -1), from the forward output y");

  m.def("sum", &sum_py, py::arg("x"),
        "sum of all elements as a 0-d array of x's dtype; float64 accumulation in a fixed order, "
        "bit-identical for any thread count");
}

}  // namespace bind
}  // namespace pyengine
