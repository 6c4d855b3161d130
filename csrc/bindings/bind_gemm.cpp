#include <pybind11/stl.h>

#include <string>
#include <vector>

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

// A float operand read in place through its strides: a matrix (2-D) or a
// stack of matrices (3-D), op() already applied to the last two dimensions.
struct Operand {
  py::array array;
  int64_t batch, rows, cols;
  int64_t bs, rs, cs;  // element strides; bs == 0 for a 2-D operand
};

Operand matrix_operand(const py::handle& obj, DType dtype, bool transpose, bool allow_3d, const char* op,
                       const char* arg) {
  py::array a = as_array(obj, op, arg);
  if (a.ndim() != 2 && !(allow_3d && a.ndim() == 3))
    fail_value(op, ": ", arg, allow_3d ? " must be 2-D or 3-D" : " must be 2-D", ", got shape ", shape_str(a));
  check_same_dtype(dtype, a, op, arg);
  const auto st = element_strides(a, op, arg);
  const int d = static_cast<int>(a.ndim()) - 2;
  Operand o{a, d ? a.shape(0) : 1, a.shape(d), a.shape(d + 1), d ? st[0] : 0, st[d], st[d + 1]};
  if (transpose) {
    std::swap(o.rows, o.cols);
    std::swap(o.rs, o.cs);
  }
  return o;
}

std::string shapes_of(const Operand& a, const Operand& b) {
  return str_cat("(a ", shape_str(a.array), ", b ", shape_str(b.array), ")");
}

// Everything gemm and gemm_batched share: the checks on out and bias, the
// problem description and the call with the GIL released.
template <typename Run>
py::array run_gemm(const char* op, const Operand& a, const Operand& b, int64_t batch, const py::object& out_obj,
                   double alpha, double beta, const py::object& bias_obj, const py::object& act_obj, DType dtype,
                   const Run& run) {
  if (a.cols != b.rows)
    fail_value(op, ": op(a) has shape (", a.rows, ", ", a.cols, ") and op(b) has shape (", b.rows, ", ", b.cols,
               "); inner dimensions ", a.cols, " and ", b.rows, " differ ", shapes_of(a, b));
  const Activation act = parse_activation(act_obj, op);
  const bool batched = batch >= 0;  // -1: one 2-D product
  std::vector<int64_t> out_shape{a.rows, b.cols};
  if (batched) out_shape.insert(out_shape.begin(), batch);

  py::array out;
  if (out_obj.is_none()) {
    if (beta != 0.0) fail_value(op, ": beta=", beta, " needs an out array to scale");
    out = empty_array(dtype, out_shape);
  } else {
    out = as_array(out_obj, op, "out");
    check_same_dtype(dtype, out, op, "out");
    if (shape_of(out) != out_shape)
      fail_value(op, ": out has shape ", shape_str(out), " but the product has shape ", pyengine::shape_str(out_shape),
                 " ", shapes_of(a, b));
    check_writable(out, op, "out");
    if (overlaps(out, a.array) || overlaps(out, b.array))
      fail_value(op, ": out shares memory with ", overlaps(out, a.array) ? "a" : "b",
                 "; the product would overwrite its own input");
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
    p.c_rs = out_st[batched ? 1 : 0];
    p.c_cs = out_st[batched ? 2 : 1];
    p.bias_n = has_bias ? static_cast<const T*>(bias.data()) : nullptr;
    p.activation = act;
    const int64_t c_bs = batched ? out_st[0] : 0;
    py::gil_scoped_release release;
    run(p, c_bs);
  });
  return out;
}

py::array gemm_py(const py::handle& a_obj, const py::handle& b_obj, const py::object& out_obj, bool trans_a,
                  bool trans_b, double alpha, double beta, const py::object& bias_obj, const py::object& act_obj) {
  constexpr const char* op = "gemm";
  const DType dtype = float_dtype(as_array(a_obj, op, "a"), op, "a");
  const Operand a = matrix_operand(a_obj, dtype, trans_a, false, op, "a");
  const Operand b = matrix_operand(b_obj, dtype, trans_b, false, op, "b");
  return run_gemm(op, a, b, -1, out_obj, alpha, beta, bias_obj, act_obj, dtype,
                  [](const auto& p, int64_t) { gemm(p); });
}

py::array gemm_batched_py(const py::handle& a_obj, const py::handle& b_obj, const py::object& out_obj, bool trans_a,
                          bool trans_b, double alpha, double beta, const py::object& bias_obj,
                          const py::object& act_obj) {
  constexpr const char* op = "gemm_batched";
  const DType dtype = float_dtype(as_array(a_obj, op, "a"), op, "a");
  Operand a = matrix_operand(a_obj, dtype, trans_a, true, op, "a");
  Operand b = matrix_operand(b_obj, dtype, trans_b, true, op, "b");
  const bool a3 = a.array.ndim() == 3, b3 = b.array.ndim() == 3;
  if (!a3 && !b3)
    fail_value(op, ": a or b must be 3-D (a stack of matrices) ", shapes_of(a, b), "; use gemm for one product");
  // A batch of one broadcasts against the other operand's batch, as in np.matmul.
  if (a3 && b3 && a.batch != b.batch && a.batch != 1 && b.batch != 1)
    fail_value(op, ": a has a batch of ", a.batch, " but b has a batch of ", b.batch, " ", shapes_of(a, b));
  const int64_t batch = !b3 ? a.batch : !a3 ? b.batch : a.batch == 1 ? b.batch : a.batch;
  if (a.batch == 1) a.bs = 0;
  if (b.batch == 1) b.bs = 0;
  return run_gemm(op, a, b, batch, out_obj, alpha, beta, bias_obj, act_obj, dtype,
                  [&](const auto& p, int64_t c_bs) { gemm_batched(p, batch, a.bs, b.bs, c_bs); });
}

double peak_gflops_py(int threads, const std::string& dtype) {
  if (threads < 1) fail_value("peak_gflops: threads must be >= 1, got ", threads);
  if (dtype != "float32" && dtype != "float64")
    fail_type("peak_gflops: dtype must be float32 or float64, got ", dtype);
  py::gil_scoped_release release;
  return dtype == "float32" ? peak_gflops<float>(threads) : peak_gflops<double>(threads);
}

}  // namespace

void bind_gemm(py::module_& m) {
  m.def("gemm", &gemm_py, py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::kw_only(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("bias") = py::none(), py::arg("activation") = py::none(),
        "out = act(alpha * op(a) @ op(b) + beta * out + bias)");
  m.def("gemm_batched", &gemm_batched_py, py::arg("a"), py::arg("b"), py::arg("out") = py::none(), py::kw_only(),
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("alpha") = 1.0, py::arg("beta") = 0.0,
        py::arg("bias") = py::none(), py::arg("activation") = py::none(),
        "out[i] = act(alpha * op(a[i]) @ op(b[i]) + beta * out[i] + bias); a 2-D operand is shared by every i");
  m.def("peak_gflops", &peak_gflops_py, py::arg("threads"), py::arg("dtype") = "float32",
        "Measured FMA peak of this CPU on `threads` threads (at most get_num_threads()), in GFLOPS");
}

}  // namespace bind
}  // namespace pyengine
