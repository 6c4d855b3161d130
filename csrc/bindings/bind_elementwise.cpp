#include <cmath>
#include <initializer_list>
#include <limits>
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

// out = a op b, where b is an array of a's shape and dtype or a Python
// number (rounded to a's dtype; one beyond float32's range becomes +-inf),
// into a new array or into `out`: a or b itself for an in-place update, or an
// array that shares no memory with them (a partial overlap would read values
// already written).
void def_binary(py::module_& m, const char* op, BinaryOp which, const char* doc) {
  m.def(op, [op, which](py::handle a_obj, py::handle b_obj, py::handle out_obj) {
    DType dtype;
    const py::array a = contiguous_float(a_obj, op, "a", &dtype);
    const bool scalar = !py::isinstance<py::array>(b_obj);
    py::array b;
    if (scalar) {
      if (!py::isinstance<py::float_>(b_obj) && !py::isinstance<py::int_>(b_obj))
        fail_type(op, ": b must be a numpy.ndarray or a Python number, got ",
                  std::string(py::str(py::type::of(b_obj).attr("__name__"))));
    } else {
      b = contiguous_float(b_obj, op, "b");
      check_same_dtype(dtype, b, op, "b");
      if (shape_of(b) != shape_of(a))
        fail_value(op, ": b has shape ", shape_str(b), " but a has shape ", shape_str(a));
    }
    py::array out;
    if (out_obj.is_none()) {
      out = empty_array(dtype, shape_of(a));
    } else {
      out = in_place_array(out_obj, op, "out");
      check_same_dtype(dtype, out, op, "out");
      if (shape_of(out) != shape_of(a))
        fail_value(op, ": out has shape ", shape_str(out), " but a has shape ", shape_str(a));
      if (a.data() != out.data() && overlaps(a, out))
        fail_value(op, ": out overlaps a without being the same array");
      if (!scalar && b.data() != out.data() && overlaps(b, out))
        fail_value(op, ": out overlaps b without being the same array");
    }
    double s = 0.0;
    if (scalar) {
      s = PyFloat_AsDouble(b_obj.ptr());  // OverflowError for an int beyond double's range
      if (s == -1.0 && PyErr_Occurred()) throw py::error_already_set();
    }
    dispatch_float(dtype, [&](auto t) {
      using T = decltype(t);
      const T* ap = static_cast<const T*>(a.data());
      T* outp = static_cast<T*>(out.mutable_data());
      const int64_t n = out.size();
      if (scalar) {
        // Converting a double beyond T's range is undefined in C++. Rounded to
        // nearest, as NumPy converts it, anything from halfway past T's largest
        // value on is +-inf (for double that halfway point is itself inf).
        const T top = std::numeric_limits<T>::max(), inf = std::numeric_limits<T>::infinity();
        const double halfway = static_cast<double>(top) + (static_cast<double>(top) - std::nextafter(top, T(0))) / 2;
        const T sv = std::isfinite(s) && std::fabs(s) >= halfway ? (s > 0 ? inf : -inf) : static_cast<T>(s);
        py::gil_scoped_release release;
        run_binary(which, ap, sv, outp, n);
      } else {
        const T* bp = static_cast<const T*>(b.data());
        py::gil_scoped_release release;
        run_binary(which, ap, bp, outp, n);
      }
    });
    return out;
  }, py::arg("a"), py::arg("b"), py::arg("out") = py::none(), doc);
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
  def_binary(m, "add", BinaryOp::add, "a + b, elementwise (b an array of a's shape or a number)");
  def_binary(m, "sub", BinaryOp::sub, "a - b, elementwise (b an array of a's shape or a number)");
  def_binary(m, "mul", BinaryOp::mul, "a * b, elementwise (b an array of a's shape or a number)");
  def_binary(m, "div", BinaryOp::div, "a / b, elementwise (b an array of a's shape or a number)");
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
