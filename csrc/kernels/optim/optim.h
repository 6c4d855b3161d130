// Fused optimizer updates: each reads a parameter, its gradient and the
// optimizer's state once and writes the new parameter and state in the same
// pass, where a chain of elementwise ops would stream the arrays ~8 times.
//
// Every update follows PyTorch's single-tensor implementation (torch/optim/*.py,
// foreach=False) term by term. Hyperparameters that depend on the step count
// (bias corrections, Adagrad's decayed rate) are computed by the caller in
// double precision, as PyTorch does in Python floats.
#pragma once
#include <cstdint>

#include "core/dispatch.h"

namespace pyengine {

struct SgdHyper {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, maximize;
  bool first_step;  // the momentum buffer starts as the first gradient
};

struct AdamHyper {
  double lr, beta1, beta2, eps, weight_decay;
  double step_size;            // lr / (1 - beta1^step)
  double bias_correction2_sqrt;  // sqrt(1 - beta2^step)
  bool decoupled_weight_decay;  // AdamW: param *= 1 - lr * weight_decay
  bool maximize;
};

struct RmspropHyper {
  double lr, alpha, eps, weight_decay, momentum;
  bool maximize;
};

struct AdagradHyper {
  double clr;  // lr / (1 + (step - 1) * lr_decay)
  double eps, weight_decay;
  bool maximize;
};

struct AdadeltaHyper {
  double lr, rho, eps, weight_decay;
  bool maximize;
};

// Each update works on n elements. `param` and the state arrays are read and
// written in place, `grad` only read. An optional state array (nullptr when
// the option is off) is named in its comment.
template <typename T>
using SgdFn = void (*)(T* param, const T* grad, T* momentum_buffer /* momentum != 0 */, int64_t n,
                       const SgdHyper& h);
template <typename T>
using AdamFn = void (*)(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq /* amsgrad */,
                        int64_t n, const AdamHyper& h);
template <typename T>
using RmspropFn = void (*)(T* param, const T* grad, T* square_avg, T* momentum_buffer /* momentum != 0 */,
                           T* grad_avg /* centered */, int64_t n, const RmspropHyper& h);
template <typename T>
using AdagradFn = void (*)(T* param, const T* grad, T* state_sum, int64_t n, const AdagradHyper& h);
template <typename T>
using AdadeltaFn = void (*)(T* param, const T* grad, T* square_avg, T* acc_delta, int64_t n,
                            const AdadeltaHyper& h);

template <typename T>
struct OptimKernels {
  SgdFn<T> sgd;
  AdamFn<T> adam;
  RmspropFn<T> rmsprop;
  AdagradFn<T> adagrad;
  AdadeltaFn<T> adadelta;
};

struct OptimTable {
  OptimKernels<float> f32;
  OptimKernels<double> f64;
};

// One definition per compiled ISA, in update.cpp.
namespace scalar { extern const OptimTable optim_table; }
namespace avx2 { extern const OptimTable optim_table; }

const OptimTable& optim_kernels();  // the active ISA's table

// The drivers: split the n elements over threads (each element is updated
// independently, so the result does not depend on the thread count) and call
// the active ISA's kernel on each range.
template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdHyper& h);
template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamHyper& h);
template <typename T>
void rmsprop_update(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg, int64_t n,
                    const RmspropHyper& h);
template <typename T>
void adagrad_update(T* param, const T* grad, T* state_sum, int64_t n, const AdagradHyper& h);
template <typename T>
void adadelta_update(T* param, const T* grad, T* square_avg, T* acc_delta, int64_t n, const AdadeltaHyper& h);

}  // namespace pyengine
