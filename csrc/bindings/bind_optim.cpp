// Bindings of the fused optimizer updates. They write the parameter and the
// state arrays in place, so those must be C-contiguous, writable arrays of the
// parameter's dtype and shape; only the gradient may be copied first.
#include <cmath>

#include "bindings/common.h"
#include "kernels/optim/optim.h"

namespace pyengine {
namespace bind {

namespace {

// The arrays of one update, checked: param and each state array in place,
// grad as contiguous data of the same dtype and shape.
struct UpdateArgs {
  DType dtype;
  py::array param, grad;
  std::vector<py::array> state;  // in the order given; a None entry stays empty
  std::vector<bool> present;
};

UpdateArgs check_update(const char* op, const py::handle& param_obj, const py::handle& grad_obj,
                        std::initializer_list<std::pair<const char*, py::handle>> state) {
  UpdateArgs u;
  u.param = in_place_array(param_obj, op, "param");
  u.dtype = float_dtype(u.param, op, "param");
  u.grad = contiguous_float(grad_obj, op, "grad");
  check_same_dtype(u.dtype, u.grad, op, "grad");
  if (shape_of(u.grad) != shape_of(u.param))
    fail_value(op, ": grad has shape ", shape_str(u.grad), " but param has shape ", shape_str(u.param));
  for (const auto& [name, obj] : state) {
    u.present.push_back(!obj.is_none());
    if (obj.is_none()) {
      u.state.emplace_back();
      continue;
    }
    py::array a = in_place_array(obj, op, name);
    check_same_dtype(u.dtype, a, op, name);
    if (shape_of(a) != shape_of(u.param))
      fail_value(op, ": ", name, " has shape ", shape_str(a), " but param has shape ", shape_str(u.param));
    u.state.push_back(a);
  }
  return u;
}

template <typename T>
T* data_or_null(UpdateArgs& u, size_t k) {
  return u.present[k] ? static_cast<T*>(u.state[k].mutable_data()) : nullptr;
}

// Calls run(param, grad, n) with typed pointers and the GIL released.
template <typename Run>
void run_typed(UpdateArgs& u, const Run& run) {
  dispatch_float(u.dtype, [&](auto t) {
    using T = decltype(t);
    T* p = static_cast<T*>(u.param.mutable_data());
    const T* g = static_cast<const T*>(u.grad.data());
    const int64_t n = u.param.size();
    run(p, g, n, [&](size_t k) { return data_or_null<T>(u, k); });
  });
}

// A state array must be given exactly when its option is on (option ==
// nullptr: always).
void require_state(bool needed, const UpdateArgs& u, size_t k, const char* op, const char* name,
                   const char* option = nullptr) {
  if (needed == static_cast<bool>(u.present[k])) return;
  if (option == nullptr) fail_value(op, ": ", name, " must be an array, got None");
  fail_value(op, ": ", name, needed ? " is required when " : " must be None unless ", option);
}

void check_step(int64_t step, const char* op) {
  if (step < 1) fail_value(op, ": step must be >= 1, got ", step);
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def("sgd_update", [](py::handle param, py::handle grad, py::handle momentum_buffer, double lr,
                         double momentum, double dampening, double weight_decay, bool nesterov, bool maximize,
                         bool first_step) {
    auto u = check_update("sgd_update", param, grad, {{"momentum_buffer", momentum_buffer}});
    require_state(momentum != 0, u, 0, "sgd_update", "momentum_buffer", "momentum != 0");
    const SgdHyper h{lr, momentum, dampening, weight_decay, nesterov, maximize, first_step};
    run_typed(u, [&](auto* p, const auto* g, int64_t n, auto state) {
      auto* buf = state(0);
      py::gil_scoped_release release;
      sgd_update(p, g, buf, n, h);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("momentum_buffer") = py::none(), py::kw_only(), py::arg("lr"),
     py::arg("momentum") = 0.0, py::arg("dampening") = 0.0, py::arg("weight_decay") = 0.0,
     py::arg("nesterov") = false, py::arg("maximize") = false, py::arg("first_step") = false,
     "One SGD step on param in place (PyTorch's update rule, fused in one pass).");

  m.def("adam_update", [](py::handle param, py::handle grad, py::handle exp_avg, py::handle exp_avg_sq,
                          py::handle max_exp_avg_sq, int64_t step, double lr, double beta1, double beta2,
                          double eps, double weight_decay, bool decoupled_weight_decay, bool maximize) {
    auto u = check_update("adam_update", param, grad,
                          {{"exp_avg", exp_avg}, {"exp_avg_sq", exp_avg_sq}, {"max_exp_avg_sq", max_exp_avg_sq}});
    require_state(true, u, 0, "adam_update", "exp_avg");
    require_state(true, u, 1, "adam_update", "exp_avg_sq");
    check_step(step, "adam_update");
    const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
    const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
    const AdamHyper h{lr, beta1, beta2, eps, weight_decay, lr / bias_correction1, std::sqrt(bias_correction2),
                      decoupled_weight_decay, maximize};
    run_typed(u, [&](auto* p, const auto* g, int64_t n, auto state) {
      auto *m1 = state(0), *m2 = state(1), *mx = state(2);
      py::gil_scoped_release release;
      adam_update(p, g, m1, m2, mx, n, h);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("exp_avg"), py::arg("exp_avg_sq"),
     py::arg("max_exp_avg_sq") = py::none(), py::kw_only(), py::arg("step"), py::arg("lr"), py::arg("beta1"),
     py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0, py::arg("decoupled_weight_decay") = false,
     py::arg("maximize") = false,
     "One Adam (or, with decoupled_weight_decay, AdamW) step in place; amsgrad when max_exp_avg_sq is given.");

  m.def("rmsprop_update", [](py::handle param, py::handle grad, py::handle square_avg, py::handle momentum_buffer,
                             py::handle grad_avg, double lr, double alpha, double eps, double weight_decay,
                             double momentum, bool maximize) {
    auto u = check_update("rmsprop_update", param, grad,
                          {{"square_avg", square_avg}, {"momentum_buffer", momentum_buffer}, {"grad_avg", grad_avg}});
    require_state(true, u, 0, "rmsprop_update", "square_avg");
    require_state(momentum != 0, u, 1, "rmsprop_update", "momentum_buffer", "momentum != 0");
    const RmspropHyper h{lr, alpha, eps, weight_decay, momentum, maximize};
    run_typed(u, [&](auto* p, const auto* g, int64_t n, auto state) {
      auto *sq = state(0), *buf = state(1), *ga = state(2);
      py::gil_scoped_release release;
      rmsprop_update(p, g, sq, buf, ga, n, h);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("square_avg"), py::arg("momentum_buffer") = py::none(),
     py::arg("grad_avg") = py::none(), py::kw_only(), py::arg("lr"), py::arg("alpha"), py::arg("eps"),
     py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0, py::arg("maximize") = false,
     "One RMSprop step in place; centered when grad_avg is given.");

  m.def("adagrad_update", [](py::handle param, py::handle grad, py::handle state_sum, int64_t step, double lr,
                             double lr_decay, double eps, double weight_decay, bool maximize) {
    auto u = check_update("adagrad_update", param, grad, {{"state_sum", state_sum}});
    require_state(true, u, 0, "adagrad_update", "state_sum");
    check_step(step, "adagrad_update");
    const AdagradHyper h{lr / (1.0 + static_cast<double>(step - 1) * lr_decay), eps, weight_decay, maximize};
    run_typed(u, [&](auto* p, const auto* g, int64_t n, auto state) {
      auto* sum = state(0);
      py::gil_scoped_release release;
      adagrad_update(p, g, sum, n, h);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("state_sum"), py::kw_only(), py::arg("step"), py::arg("lr"),
     py::arg("lr_decay") = 0.0, py::arg("eps") = 1e-10, py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
     "One Adagrad step in place.");

  m.def("adadelta_update", [](py::handle param, py::handle grad, py::handle square_avg, py::handle acc_delta,
                              double lr, double rho, double eps, double weight_decay, bool maximize) {
    auto u = check_update("adadelta_update", param, grad, {{"square_avg", square_avg}, {"acc_delta", acc_delta}});
    require_state(true, u, 0, "adadelta_update", "square_avg");
    require_state(true, u, 1, "adadelta_update", "acc_delta");
    const AdadeltaHyper h{lr, rho, eps, weight_decay, maximize};
    run_typed(u, [&](auto* p, const auto* g, int64_t n, auto state) {
      auto *sq = state(0), *acc = state(1);
      py::gil_scoped_release release;
      adadelta_update(p, g, sq, acc, n, h);
    });
  }, py::arg("param"), py::arg("grad"), py::arg("square_avg"), py::arg("acc_delta"), py::kw_only(), py::arg("lr"),
     py::arg("rho"), py::arg("eps"), py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
     "One Adadelta step in place.");
}

}  // namespace bind
}  // namespace pyengine
