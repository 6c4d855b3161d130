// The fused optimizer updates, compiled once per ISA. Each is one lambda on
// Vec<T> registers; run_update applies it to whole registers and then to the
// tail through zero-padded copies, so every element follows the same formula
// (the scalar build, with one-lane Vecs, is the reference).
#include <cmath>

#include "kernels/optim/optim.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

constexpr int kMaxState = 3;

// Loads one register of the parameter, gradient and each present state array,
// calls step(param, grad, state) and stores the parameter and the state back.
// An absent state array (nullptr) reads as zeros and is not written.
template <typename T, typename Step>
inline void update_block(T* param, const T* grad, T* const* state, const Step& step) {
  Vec<T> p = Vec<T>::loadu(param);
  Vec<T> s[kMaxState];
  for (int k = 0; k < kMaxState; ++k) s[k] = state[k] ? Vec<T>::loadu(state[k]) : Vec<T>::zero();
  step(p, Vec<T>::loadu(grad), s);
  p.storeu(param);
  for (int k = 0; k < kMaxState; ++k)
    if (state[k]) s[k].storeu(state[k]);
}

// The state pointers take their type from param (a nullptr argument deduces nothing).
template <typename T>
struct StatePointer { using type = T*; };

template <typename T, typename Step>
void run_update(T* param, const T* grad, typename StatePointer<T>::type s0, typename StatePointer<T>::type s1,
                typename StatePointer<T>::type s2, int64_t n, const Step& step) {
  constexpr int W = Vec<T>::size;
  T* const base[kMaxState] = {s0, s1, s2};
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    T* state[kMaxState];
    for (int k = 0; k < kMaxState; ++k) state[k] = base[k] ? base[k] + i : nullptr;
    update_block(param + i, grad + i, state, step);
  }
  const int64_t rest = n - i;
  if (rest == 0) return;
  // The tail goes through full registers of padding: zero lanes never reach
  // memory, and a partial load would read past the arrays' ends.
  T p[W] = {}, g[W] = {}, s[kMaxState][W] = {};
  T* state[kMaxState];
  for (int k = 0; k < kMaxState; ++k) state[k] = base[k] ? s[k] : nullptr;
  for (int64_t j = 0; j < rest; ++j) {
    p[j] = param[i + j];
    g[j] = grad[i + j];
    for (int k = 0; k < kMaxState; ++k)
      if (base[k]) s[k][j] = base[k][i + j];
  }
  update_block(p, g, state, step);
  for (int64_t j = 0; j < rest; ++j) {
    param[i + j] = p[j];
    for (int k = 0; k < kMaxState; ++k)
      if (base[k]) base[k][i + j] = s[k][j];
  }
}

template <typename T>
inline Vec<T> splat(double x) { return Vec<T>::broadcast(static_cast<T>(x)); }

template <typename T>
void sgd(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdHyper& h) {
  const Vec<T> lr = splat<T>(h.lr), wd = splat<T>(h.weight_decay), mom = splat<T>(h.momentum);
  const Vec<T> one_minus_dampening = splat<T>(1.0 - h.dampening);
  const bool use_momentum = momentum_buffer != nullptr;
  run_update(param, grad, momentum_buffer, nullptr, nullptr, n, [&](Vec<T>& p, Vec<T> g, Vec<T>* s) {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g = g + wd * p;
    if (use_momentum) {
      // buf = momentum * buf + (1 - dampening) * g; the first step copies g.
      s[0] = h.first_step ? g : mom * s[0] + one_minus_dampening * g;
      g = h.nesterov ? g + mom * s[0] : s[0];
    }
    p = p - lr * g;
  });
}

template <typename T>
void adam(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n, const AdamHyper& h) {
  const Vec<T> wd = splat<T>(h.weight_decay), decay = splat<T>(1.0 - h.lr * h.weight_decay);
  const Vec<T> one_minus_beta1 = splat<T>(1.0 - h.beta1);
  const Vec<T> beta2 = splat<T>(h.beta2), one_minus_beta2 = splat<T>(1.0 - h.beta2);
  const Vec<T> eps = splat<T>(h.eps), step_size = splat<T>(h.step_size);
  const Vec<T> bias_correction2_sqrt = splat<T>(h.bias_correction2_sqrt);
  const bool amsgrad = max_exp_avg_sq != nullptr;
  run_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, n, [&](Vec<T>& p, Vec<T> g, Vec<T>* s) {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) {
      if (h.decoupled_weight_decay) p = p * decay;
      else g = g + wd * p;
    }
    s[0] = s[0] + one_minus_beta1 * (g - s[0]);       // exp_avg.lerp_(g, 1 - beta1)
    s[1] = beta2 * s[1] + one_minus_beta2 * (g * g);  // exp_avg_sq
    Vec<T> second = s[1];
    if (amsgrad) {
      s[2] = max(s[2], s[1]);
      second = s[2];
    }
    const Vec<T> denom = sqrt(second) / bias_correction2_sqrt + eps;
    p = p - step_size * (s[0] / denom);
  });
}

template <typename T>
void rmsprop(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg, int64_t n,
             const RmspropHyper& h) {
  const Vec<T> lr = splat<T>(h.lr), wd = splat<T>(h.weight_decay), mom = splat<T>(h.momentum);
  const Vec<T> alpha = splat<T>(h.alpha), one_minus_alpha = splat<T>(1.0 - h.alpha), eps = splat<T>(h.eps);
  const bool use_momentum = momentum_buffer != nullptr, centered = grad_avg != nullptr;
  run_update(param, grad, square_avg, momentum_buffer, grad_avg, n, [&](Vec<T>& p, Vec<T> g, Vec<T>* s) {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g = g + wd * p;
    s[0] = alpha * s[0] + one_minus_alpha * (g * g);
    Vec<T> avg;
    if (centered) {
      s[2] = s[2] + one_minus_alpha * (g - s[2]);  // grad_avg.lerp_(g, 1 - alpha)
      avg = sqrt(s[0] - s[2] * s[2]) + eps;
    } else {
      avg = sqrt(s[0]) + eps;
    }
    if (use_momentum) {
      s[1] = mom * s[1] + g / avg;
      p = p - lr * s[1];
    } else {
      p = p - lr * (g / avg);
    }
  });
}

template <typename T>
void adagrad(T* param, const T* grad, T* state_sum, int64_t n, const AdagradHyper& h) {
  const Vec<T> clr = splat<T>(h.clr), wd = splat<T>(h.weight_decay), eps = splat<T>(h.eps);
  run_update(param, grad, state_sum, nullptr, nullptr, n, [&](Vec<T>& p, Vec<T> g, Vec<T>* s) {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g = g + wd * p;
    s[0] = s[0] + g * g;
    p = p - clr * (g / (sqrt(s[0]) + eps));
  });
}

template <typename T>
void adadelta(T* param, const T* grad, T* square_avg, T* acc_delta, int64_t n, const AdadeltaHyper& h) {
  const Vec<T> lr = splat<T>(h.lr), wd = splat<T>(h.weight_decay), eps = splat<T>(h.eps);
  const Vec<T> rho = splat<T>(h.rho), one_minus_rho = splat<T>(1.0 - h.rho);
  run_update(param, grad, square_avg, acc_delta, nullptr, n, [&](Vec<T>& p, Vec<T> g, Vec<T>* s) {
    if (h.maximize) g = -g;
    if (h.weight_decay != 0) g = g + wd * p;
    s[0] = rho * s[0] + one_minus_rho * (g * g);
    const Vec<T> delta = sqrt(s[1] + eps) / sqrt(s[0] + eps) * g;
    s[1] = rho * s[1] + one_minus_rho * (delta * delta);
    p = p - lr * delta;
  });
}

template <typename T>
constexpr OptimKernels<T> make_optim_kernels() {
  return {sgd<T>, adam<T>, rmsprop<T>, adagrad<T>, adadelta<T>};
}

}  // namespace

extern const OptimTable optim_table = {make_optim_kernels<float>(), make_optim_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
