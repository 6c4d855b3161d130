#include <pybind11/stl.h>

#include "bindings/common.h"
#include "kernels/gemm/gemm.h"

namespace pyengine {
namespace bind {

namespace {

Activation parse_activation(const py::object& act, const char* op) {
  if (act.is_none()) return Activation::none;
  if (!py::isinstance<py::str>(act))
    fail_type(op, ": activation must be None or a string, got ", std::string(py::str(py::type::of(act).attr("__name__"))));
  const std::string s = act.cast<std::string>();
  if (s == "relu") return Activation::relu;
  if (s == "gelu") return Activation::gelu;
  if (s == "tanh") return Activation::tanh;
  if (s == "sigmoid") return Activation::sigmoid;
  fail_value(op, ": unknown activation '", s, "' (choose None, 'relu', 'gelu', 'tanh' or 'sigmoid')");
}

// A 2-D float operand read in place through its strides.
struct Operand {
  py::array array;
  int64_t rows, cols, rs, cs;
};

Operand matrix_operand(const py::handle& obj, DType dtype, bool transpose, const char* op, const char* arg) {
  py::array a = as_array(obj, op, arg);
  if (a.ndim() != 2) fail_value(op, ": ", arg, " must be 2-D, got shape ", shape_str(a));
  check_same_dtype(dtype, a, op, arg);
  const auto st = element_strides(a, op, arg);
  Operand o{a, a.shape(0), a.shape(1), st[0], st[1]};
  if (transpose) {
    std::swap(o.rows, o.cols);
    std::swap(o.rs, o.cs);
  }
  return o;
}

py::array gemm_py(const py::handle& a_obj, const py::handle& b_obj, const py::object& out_obj, bool trans_a,
                  bool trans_b, double alpha, double beta, const py::object& bias_obj, const py::object& act_obj) {
  constexpr const char* op = "gemm";
  const DType dtype = float_dtype(as_array(a_obj, op, "a"), op, "a");
  const Operand a = matrix_operand(a_obj, dtype, trans_a, op, "a");
  const Operand b = matrix_operand(b_obj, dtype, trans_b, op, "b");
  if (a.cols != b.rows)
    fail_value(op, ": op(a) has shape (", a.rows, ", ", a.cols, ") and op(b) has shape (", b.rows, ", ", b.cols,
               "); inner dimensions ", a.cols, " and ", b.rows, " differ");
  const Activation act = parse_activation(act_obj, op);

  py::array out;
  if (out_obj.is_none()) {
    if (beta != 0.0) fail_value(op, ": beta=", beta, " needs an out array to scale");
    out = empty_array(dtype, {a.rows, b.cols});
  } else {
    out = as_array(out_obj, op, "out");
    check_same_dtype(dtype, out, op, "out");
    if (out.ndim() != 2 || out.shape(0) != a.rows || out.shape(1) != b.cols)
      fail_value(op, ": out has shape ", shape_str(out), " but the product has shape (", a.rows, ", ", b.cols, ")");
    check_writable(out, op, "out");
  }
  const auto out_st = element_strides(out, op, "out");

  const bool has_bias = !bias_obj.is_none();
  py::array bias;  // stays an empty placeholder when there is no bias
  if (has_bias) {
    bias = contiguous_float(bias_obj, op, "bias");
    check_same_dtype(dtype, bias, op, "bias");
    if (bias.ndim() != 1 || bias.shape(0) != b.cols)
      fail_value(op, ": bias has shape ", shape_str(bias), " but the product has ", b.cols, " columns");
  }

  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    GemmProblem<T> p;
    p.m = a.rows;
    p.n = b.cols;
    p.k = a.cols;
    p.alpha = static_cast<T>(alpha);
    p.beta = static_cast<T>(beta);
    p.a = static_cast<const T*>(a.array.data());
    p.a_rs = a.rs;
    p.a_cs = a.cs;
    p.b = static_cast<const T*>(b.array.data());
    p.b_rs = b.rs;
    p.b_cs = b.cs;
    p.c = static_cast<T*>(out.mutable_data());
    p.c_rs = out_st[0];
    p.c_cs = out_st[1];
    p.bias_n = has_bias ? static_cast<const T*>(bias.data()) : nullptr;
    p.activation = act;
    py::gil_scoped_release release;
    gemm(p);
  });
  return out;
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::kw_only(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("bias") = py::none(), py::arg("activation") = py::none(),
        "out = act(alpha * op(a) @ op(b) + beta * out + bias)");
}

}  // namespace bind
}  // namespace pyengine
