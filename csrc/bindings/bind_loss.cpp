#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "bindings/common.h"
#include "kernels/loss/loss.h"

namespace pyengine {
namespace bind {

namespace {

using Int64Array = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;

// An integer array (labels, lengths) as contiguous int64; TypeError otherwise.
Int64Array int64_array(const py::handle& obj, const char* op, const char* arg) {
  py::array a = as_array(obj, op, arg);
  if (a.dtype().kind() != 'i' && a.dtype().kind() != 'u')
    fail_type(op, ": ", arg, " must be an integer array, got dtype ", std::string(py::str(a.dtype())));
  return Int64Array::ensure(a);
}

enum class Reduction { none, mean, sum };

Reduction parse_reduction(const std::string& r, const char* op) {
  if (r == "none") return Reduction::none;
  if (r == "mean") return Reduction::mean;
  if (r == "sum") return Reduction::sum;
  fail_value(op, ": reduction must be 'none', 'mean' or 'sum', got '", r, "'");
}

// The checked operands of a cross-entropy call, shared by forward and backward.
struct CrossEntropyArgs {
  DType dtype;
  py::array logits;       // (rows, classes)
  Int64Array index;       // (rows,) for class-index targets
  py::array prob;         // (rows, classes) for probability targets
  py::array weight;       // (classes,) or empty
  bool has_index = false, has_weight = false;
  int64_t rows = 0, classes = 0;
  int64_t ignore_index = -100;
  double label_smoothing = 0;

  template <typename T>
  CrossEntropyProblem<T> problem() const {
    CrossEntropyProblem<T> p;
    p.rows = rows;
    p.classes = classes;
    p.logits = static_cast<const T*>(logits.data());
    p.target_index = has_index ? index.data() : nullptr;
    p.target_prob = has_index ? nullptr : static_cast<const T*>(prob.data());
    p.weight = has_weight ? static_cast<const T*>(weight.data()) : nullptr;
    p.ignore_index = ignore_index;
    p.label_smoothing = static_cast<T>(label_smoothing);
    return p;
  }
};

CrossEntropyArgs cross_entropy_args(const char* op, const py::handle& input, const py::handle& target,
                                    const py::object& weight, int64_t ignore_index, double label_smoothing) {
  CrossEntropyArgs a;
  a.logits = contiguous_float(input, op, "input", &a.dtype);
  if (a.logits.ndim() != 2)
    fail_value(op, ": input must be 2-D (rows, classes), got shape ", shape_str(a.logits));
  a.rows = a.logits.shape(0);
  a.classes = a.logits.shape(1);
  if (a.classes == 0) fail_value(op, ": input has 0 classes (input ", shape_str(a.logits), ")");
  const py::array t = as_array(target, op, "target");
  if (t.dtype().kind() == 'f') {
    a.prob = contiguous_float(t, op, "target");
    check_same_dtype(a.dtype, a.prob, op, "target");
    if (shape_of(a.prob) != shape_of(a.logits))
      fail_value(op, ": probability target has shape ", shape_str(a.prob), " but input has shape ",
                 shape_str(a.logits));
  } else {
    a.index = int64_array(t, op, "target");
    a.has_index = true;
    if (a.index.ndim() != 1 || a.index.shape(0) != a.rows)
      fail_value(op, ": target has shape ", shape_str(a.index), " but input has shape ", shape_str(a.logits),
                 "; expected (", a.rows, ",)");
    const int64_t* y = a.index.data();
    for (int64_t i = 0; i < a.rows; ++i)
      if (y[i] != ignore_index && (y[i] < 0 || y[i] >= a.classes))
        fail_value(op, ": target ", y[i], " at row ", i, " is out of range for ", a.classes, " classes");
  }
  if (!weight.is_none()) {
    a.weight = contiguous_float(weight, op, "weight");
    check_same_dtype(a.dtype, a.weight, op, "weight");
    if (a.weight.ndim() != 1 || a.weight.shape(0) != a.classes)
      fail_value(op, ": weight has shape ", shape_str(a.weight), " but input has ", a.classes, " classes (input ",
                 shape_str(a.logits), ")");
    a.has_weight = true;
  }
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    fail_value(op, ": label_smoothing must be in [0, 1], got ", label_smoothing);
  a.ignore_index = ignore_index;
  a.label_smoothing = label_smoothing;
  return a;
}

py::tuple cross_entropy_forward(const py::handle& input, const py::handle& target, const py::object& weight,
                                int64_t ignore_index, double label_smoothing, const std::string& reduction) {
  constexpr const char* op = "cross_entropy";
  const Reduction red = parse_reduction(reduction, op);
  const CrossEntropyArgs a = cross_entropy_args(op, input, target, weight, ignore_index, label_smoothing);
  py::array row_loss = empty_array(a.dtype, {a.rows});
  py::array lse = empty_array(a.dtype, {a.rows});
  double loss_sum = 0, weight_sum = 0;
  dispatch_float(a.dtype, [&](auto t) {
    using T = decltype(t);
    const CrossEntropyProblem<T> p = a.problem<T>();
    auto fn = cross_entropy_kernels_for<T>().forward;
    T* lp = static_cast<T*>(row_loss.mutable_data());
    T* sp = static_cast<T*>(lse.mutable_data());
    py::gil_scoped_release release;
    fn(p, lp, sp, &loss_sum, &weight_sum);
  });
  py::array loss = row_loss;
  if (red != Reduction::none) {
    // The mean divides by the summed weights of the rows that count; with no
    // such row it is 0 / 0 = nan, as in PyTorch.
    const double value = red == Reduction::sum ? loss_sum : loss_sum / weight_sum;
    loss = empty_array(a.dtype, {});
    dispatch_float(a.dtype, [&](auto t) { *static_cast<decltype(t)*>(loss.mutable_data()) = decltype(t)(value); });
  }
  return py::make_tuple(loss, lse, weight_sum);
}

py::array cross_entropy_backward(const py::handle& grad_output, const py::handle& input, const py::handle& target,
                                 const py::handle& lse_obj, double total_weight, const py::object& weight,
                                 int64_t ignore_index, double label_smoothing, const std::string& reduction) {
  constexpr const char* op = "cross_entropy_backward";
  const Reduction red = parse_reduction(reduction, op);
  const CrossEntropyArgs a = cross_entropy_args(op, input, target, weight, ignore_index, label_smoothing);
  py::array g = contiguous_float(grad_output, op, "grad_output");
  check_same_dtype(a.dtype, g, op, "grad_output");
  if (red == Reduction::none ? (g.ndim() != 1 || g.shape(0) != a.rows) : g.size() != 1)
    fail_value(op, ": grad_output has shape ", shape_str(g), " but the loss has shape ",
               red == Reduction::none ? pyengine::shape_str({a.rows}) : std::string("()"));
  py::array lse = contiguous_float(lse_obj, op, "lse");
  check_same_dtype(a.dtype, lse, op, "lse");
  if (lse.ndim() != 1 || lse.shape(0) != a.rows)
    fail_value(op, ": lse has shape ", shape_str(lse), " but input has shape ", shape_str(a.logits));
  py::array grad = empty_array(a.dtype, {a.rows, a.classes});
  dispatch_float(a.dtype, [&](auto t) {
    using T = decltype(t);
    const CrossEntropyProblem<T> p = a.problem<T>();
    auto fn = cross_entropy_kernels_for<T>().backward;
    const T* gp = static_cast<const T*>(g.data());
    T scale = red == Reduction::mean ? static_cast<T>(gp[0] / total_weight) : gp[0];
    const T* row_grad = red == Reduction::none ? gp : &scale;
    const int64_t row_grad_stride = red == Reduction::none ? 1 : 0;
    const T* sp = static_cast<const T*>(lse.data());
    T* out = static_cast<T*>(grad.mutable_data());
    py::gil_scoped_release release;
    fn(p, sp, row_grad, row_grad_stride, out);
  });
  return grad;
}

// The checked operands of a CTC call, shared by forward and backward.
struct CtcArgs {
  DType dtype;
  py::array log_probs;  // (time, batch, classes)
  Int64Array targets, input_lengths, target_lengths;
  std::vector<int64_t> offsets;
  int64_t time = 0, batch = 0, classes = 0, max_target_length = 0, blank = 0;

  template <typename T>
  CtcProblem<T> problem() const {
    CtcProblem<T> p;
    p.time = time;
    p.batch = batch;
    p.classes = classes;
    p.log_probs = static_cast<const T*>(log_probs.data());
    p.targets = targets.data();
    p.target_offsets = offsets.data();
    p.input_lengths = input_lengths.data();
    p.target_lengths = target_lengths.data();
    p.max_target_length = max_target_length;
    p.blank = blank;
    return p;
  }
  std::vector<int64_t> alpha_shape() const { return {batch, time, ctc_alpha_row_stride(max_target_length)}; }
};

CtcArgs ctc_args(const char* op, const py::handle& log_probs, const py::handle& targets,
                 const py::handle& input_lengths, const py::handle& target_lengths, int64_t blank) {
  CtcArgs a;
  a.log_probs = contiguous_float(log_probs, op, "log_probs", &a.dtype);
  if (a.log_probs.ndim() != 3)
    fail_value(op, ": log_probs must be 3-D (time, batch, classes), got shape ", shape_str(a.log_probs));
  a.time = a.log_probs.shape(0);
  a.batch = a.log_probs.shape(1);
  a.classes = a.log_probs.shape(2);
  if (blank < 0 || blank >= a.classes)
    fail_value(op, ": blank ", blank, " is out of range for ", a.classes, " classes (log_probs ",
               shape_str(a.log_probs), ")");
  a.blank = blank;
  a.input_lengths = int64_array(input_lengths, op, "input_lengths");
  a.target_lengths = int64_array(target_lengths, op, "target_lengths");
  for (const auto* lengths : {&a.input_lengths, &a.target_lengths})
    if (lengths->ndim() != 1 || lengths->shape(0) != a.batch)
      fail_value(op, ": ", lengths == &a.input_lengths ? "input_lengths" : "target_lengths", " has shape ",
                 shape_str(*lengths), " but log_probs has batch size ", a.batch, " (log_probs ",
                 shape_str(a.log_probs), ")");
  a.targets = int64_array(targets, op, "targets");
  const int64_t* il = a.input_lengths.data();
  const int64_t* tl = a.target_lengths.data();
  int64_t total = 0;
  a.offsets.resize(a.batch);
  const bool padded = a.targets.ndim() == 2;
  if (!padded && a.targets.ndim() != 1)
    fail_value(op, ": targets must be 2-D (batch, max_length) or 1-D (concatenated), got shape ",
               shape_str(a.targets));
  if (padded && a.targets.shape(0) != a.batch)
    fail_value(op, ": targets has shape ", shape_str(a.targets), " but log_probs has batch size ", a.batch);
  for (int64_t b = 0; b < a.batch; ++b) {
    if (il[b] < 0 || il[b] > a.time)
      fail_value(op, ": input_lengths[", b, "] = ", il[b], " is outside [0, ", a.time, "] (log_probs ",
                 shape_str(a.log_probs), ")");
    if (tl[b] < 0) fail_value(op, ": target_lengths[", b, "] = ", tl[b], " is negative");
    if (padded && tl[b] > a.targets.shape(1))
      fail_value(op, ": target_lengths[", b, "] = ", tl[b], " exceeds the padded targets' length (targets ",
                 shape_str(a.targets), ")");
    a.offsets[b] = padded ? b * a.targets.shape(1) : total;
    total += tl[b];
    a.max_target_length = std::max(a.max_target_length, tl[b]);
  }
  if (!padded && total != a.targets.shape(0))
    fail_value(op, ": concatenated targets have ", a.targets.shape(0), " labels but target_lengths sum to ", total);
  const int64_t* y = a.targets.data();
  for (int64_t b = 0; b < a.batch; ++b)
    for (int64_t j = 0; j < tl[b]; ++j) {
      const int64_t c = y[a.offsets[b] + j];
      if (c < 0 || c >= a.classes || c == blank)
        fail_value(op, ": target label ", c, " of sample ", b, " (position ", j, ") must be in [0, ", a.classes,
                   ") and differ from blank ", blank);
    }
  return a;
}

py::tuple ctc_loss_forward(const py::handle& log_probs, const py::handle& targets, const py::handle& input_lengths,
                           const py::handle& target_lengths, int64_t blank) {
  const CtcArgs a = ctc_args("ctc_loss", log_probs, targets, input_lengths, target_lengths, blank);
  py::array loss = empty_array(a.dtype, {a.batch});
  py::array log_alpha = empty_array(a.dtype, a.alpha_shape());
  dispatch_float(a.dtype, [&](auto t) {
    using T = decltype(t);
    const CtcProblem<T> p = a.problem<T>();
    T* lp = static_cast<T*>(loss.mutable_data());
    T* ap = static_cast<T*>(log_alpha.mutable_data());
    auto fn = ctc_kernels_for<T>().forward;
    py::gil_scoped_release release;
    fn(p, lp, ap);
  });
  return py::make_tuple(loss, log_alpha);
}

py::array ctc_loss_backward(const py::handle& grad_loss, const py::handle& log_probs, const py::handle& targets,
                            const py::handle& input_lengths, const py::handle& target_lengths,
                            const py::handle& loss_obj, const py::handle& log_alpha_obj, int64_t blank,
                            bool zero_infinity) {
  constexpr const char* op = "ctc_loss_backward";
  const CtcArgs a = ctc_args(op, log_probs, targets, input_lengths, target_lengths, blank);
  const std::vector<int64_t> per_sample{a.batch};
  py::array g = contiguous_float(grad_loss, op, "grad_loss");
  py::array loss = contiguous_float(loss_obj, op, "loss");
  py::array log_alpha = contiguous_float(log_alpha_obj, op, "log_alpha");
  const std::pair<const py::array*, std::vector<int64_t>> expected[] = {
      {&g, per_sample}, {&loss, per_sample}, {&log_alpha, a.alpha_shape()}};
  const char* names[] = {"grad_loss", "loss", "log_alpha"};
  for (int i = 0; i < 3; ++i) {
    check_same_dtype(a.dtype, *expected[i].first, op, names[i]);
    if (shape_of(*expected[i].first) != expected[i].second)
      fail_value(op, ": ", names[i], " has shape ", shape_str(*expected[i].first), " but ",
                 pyengine::shape_str(expected[i].second), " was expected (log_probs ", shape_str(a.log_probs), ")");
  }
  py::array grad = empty_array(a.dtype, shape_of(a.log_probs));
  dispatch_float(a.dtype, [&](auto t) {
    using T = decltype(t);
    const CtcProblem<T> p = a.problem<T>();
    const T* gp = static_cast<const T*>(g.data());
    const T* lp = static_cast<const T*>(loss.data());
    const T* ap = static_cast<const T*>(log_alpha.data());
    T* out = static_cast<T*>(grad.mutable_data());
    auto fn = ctc_kernels_for<T>().backward;
    py::gil_scoped_release release;
    fn(p, gp, lp, ap, zero_infinity, out);
  });
  return grad;
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("cross_entropy_forward", &cross_entropy_forward, py::arg("input"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0,
        py::arg("reduction") = "mean",
        "Fused log-softmax + NLL over rows: (loss, lse per row, total weight of the mean)");
  m.def("cross_entropy_backward", &cross_entropy_backward, py::arg("grad_output"), py::arg("input"),
        py::arg("target"), py::arg("lse"), py::arg("total_weight"), py::arg("weight") = py::none(),
        py::arg("ignore_index") = -100, py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
        "Gradient of cross_entropy_forward with respect to its input logits");
  m.def("ctc_loss_forward", &ctc_loss_forward, py::arg("log_probs"), py::arg("targets"), py::arg("input_lengths"),
        py::arg("target_lengths"), py::arg("blank") = 0,
        "CTC negative log-likelihood per sample and the log-space forward variables");
  m.def("ctc_loss_backward", &ctc_loss_backward, py::arg("grad_loss"), py::arg("log_probs"), py::arg("targets"),
        py::arg("input_lengths"), py::arg("target_lengths"), py::arg("loss"), py::arg("log_alpha"),
        py::arg("blank") = 0, py::arg("zero_infinity") = false,
        "Gradient of the per-sample CTC loss with respect to log_probs");
}

}  // namespace bind
}  // namespace pyengine
