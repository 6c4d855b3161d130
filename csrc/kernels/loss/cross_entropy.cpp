// Fused cross-entropy, compiled once per ISA. Each row is read three times
// while it sits in L1: its maximum, the sum of exp(x - max) (plus the weighted
// sums that label smoothing and probability targets need), and in the backward
// pass softmax minus the target distribution, written straight to the gradient.
// No log-softmax matrix is ever stored.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/buffer.h"
#include "core/parallel.h"
#include "kernels/loss/loss.h"
#include "simd/math.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// Largest logit of a row. Two accumulators: maxps has a 4-cycle latency and
// two ports, so one chain would leave half the throughput unused.
template <typename T>
T row_max(const T* x, int64_t n) {
  constexpr int W = Vec<T>::size;
  Vec<T> m0 = Vec<T>::broadcast(-std::numeric_limits<T>::infinity()), m1 = m0;
  int64_t c = 0;
  for (; c + 2 * W <= n; c += 2 * W) {
    m0 = max(m0, Vec<T>::loadu(x + c));
    m1 = max(m1, Vec<T>::loadu(x + c + W));
  }
  for (; c + W <= n; c += W) m0 = max(m0, Vec<T>::loadu(x + c));
  T m = max(m0, m1).reduce_max();
  for (; c < n; ++c) m = x[c] > m ? x[c] : m;
  return m;
}

// sum_c exp(x_c - m), the softmax denominator after shifting by the row max.
template <typename T>
T row_sum_exp(const T* x, int64_t n, T m) {
  constexpr int W = Vec<T>::size;
  const Vec<T> vm = Vec<T>::broadcast(m);
  Vec<T> s0 = Vec<T>::zero(), s1 = s0;
  int64_t c = 0;
  for (; c + 2 * W <= n; c += 2 * W) {
    s0 = s0 + exp(Vec<T>::loadu(x + c) - vm);
    s1 = s1 + exp(Vec<T>::loadu(x + c + W) - vm);
  }
  for (; c + W <= n; c += W) s0 = s0 + exp(Vec<T>::loadu(x + c) - vm);
  T s = (s0 + s1).reduce_add();
  for (; c < n; ++c) s += std::exp(x[c] - m);
  return s;
}

// sum_c a_c (m - x_c) with a_c = w_c (or 1 without weights): every term is
// non-negative, so the smoothing term loses nothing to cancellation.
template <typename T>
T row_weighted_gap(const T* x, const T* w, int64_t n, T m) {
  constexpr int W = Vec<T>::size;
  const Vec<T> vm = Vec<T>::broadcast(m);
  Vec<T> s = Vec<T>::zero();
  int64_t c = 0;
  if (w) {
    for (; c + W <= n; c += W) s = fmadd(Vec<T>::loadu(w + c), vm - Vec<T>::loadu(x + c), s);
  } else {
    for (; c + W <= n; c += W) s = s + (vm - Vec<T>::loadu(x + c));
  }
  T r = s.reduce_add();
  for (; c < n; ++c) r += (w ? w[c] : T(1)) * (m - x[c]);
  return r;
}

// For a probability target: q_c = (1 - e) p_c + e/C and a_c = w_c q_c;
// returns sum_c a_c and, when gap is given, stores sum_c a_c (m - x_c) in it.
template <typename T>
T row_target_mass(const T* x, const T* p, const T* w, int64_t n, T m, T keep, T spread, T* gap) {
  constexpr int W = Vec<T>::size;
  const Vec<T> vm = Vec<T>::broadcast(m), vkeep = Vec<T>::broadcast(keep), vspread = Vec<T>::broadcast(spread);
  Vec<T> mass = Vec<T>::zero(), g = Vec<T>::zero();
  int64_t c = 0;
  for (; c + W <= n; c += W) {
    Vec<T> a = fmadd(Vec<T>::loadu(p + c), vkeep, vspread);
    if (w) a = a * Vec<T>::loadu(w + c);
    mass = mass + a;
    if (gap) g = fmadd(a, vm - Vec<T>::loadu(x + c), g);
  }
  T mass_s = mass.reduce_add(), gap_s = g.reduce_add();
  for (; c < n; ++c) {
    const T a = (p[c] * keep + spread) * (w ? w[c] : T(1));
    mass_s += a;
    if (gap) gap_s += a * (m - x[c]);
  }
  if (gap) *gap = gap_s;
  return mass_s;
}

// Per-problem constants of the smoothing term.
template <typename T>
struct Smoothing {
  T keep;       // 1 - e: the weight left on the target distribution
  T spread;     // e / C: spread evenly over the classes
  T weight_sum; // sum_c w_c (C without weights)
};

template <typename T>
Smoothing<T> smoothing_of(const CrossEntropyProblem<T>& p) {
  T weight_sum = static_cast<T>(p.classes);
  if (p.weight) {
    weight_sum = 0;
    for (int64_t c = 0; c < p.classes; ++c) weight_sum += p.weight[c];
  }
  return {T(1) - p.label_smoothing, p.label_smoothing / static_cast<T>(p.classes), weight_sum};
}

template <typename T>
void forward_rows(const CrossEntropyProblem<T>& p, const Smoothing<T>& s, int64_t r0, int64_t r1, T* row_loss,
                  T* lse, T* row_weight) {
  const int64_t n = p.classes;
  for (int64_t i = r0; i < r1; ++i) {
    const T* x = p.logits + i * n;
    const T m = row_max(x, n);
    const T log_sum = std::log(row_sum_exp(x, n, m));
    lse[i] = m + log_sum;
    if (p.target_index) {
      const int64_t y = p.target_index[i];
      if (y == p.ignore_index) {
        row_loss[i] = 0;
        row_weight[i] = 0;
        continue;
      }
      const T wy = p.weight ? p.weight[y] : T(1);
      T loss = s.keep * wy * (log_sum + (m - x[y]));
      if (p.label_smoothing != 0) loss += s.spread * (s.weight_sum * log_sum + row_weighted_gap(x, p.weight, n, m));
      row_loss[i] = loss;
      row_weight[i] = wy;
    } else {
      T gap;
      const T mass = row_target_mass(x, p.target_prob + i * n, p.weight, n, m, s.keep, s.spread, &gap);
      row_loss[i] = mass * log_sum + gap;
      row_weight[i] = 1;
    }
  }
}

template <typename T>
void cross_entropy_forward(const CrossEntropyProblem<T>& p, T* row_loss, T* lse, double* loss_sum,
                           double* weight_sum) {
  const Smoothing<T> s = smoothing_of(p);
  ScratchBuffer row_weight_buf(static_cast<std::size_t>(p.rows > 0 ? p.rows : 1) * sizeof(T));
  T* row_weight = row_weight_buf.as<T>();
  // About 16K logits per task: enough to amortise waking a thread.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(p.classes, 1));
  parallel_for(0, p.rows, grain, [&](int64_t r0, int64_t r1) { forward_rows(p, s, r0, r1, row_loss, lse, row_weight); });
  // The batch sums run on one thread in row order: the result does not depend
  // on how the rows were split over threads.
  double ls = 0, ws = 0;
  for (int64_t i = 0; i < p.rows; ++i) {
    ls += row_loss[i];
    ws += row_weight[i];
  }
  *loss_sum = ls;
  *weight_sum = ws;
}

// dx_c = g * (a * softmax_c - b_c) over a row, where `a` is the total target
// mass and b_c the per-class target term: b_c = spread * w_c for an index
// target (the label's own term is subtracted by the caller), w_c q_c for a
// probability target.
template <typename T>
void write_row_grad(const T* x, const T* w, const T* prob, int64_t n, T lse, T g, T a, T keep, T spread, T* dx) {
  constexpr int W = Vec<T>::size;
  const Vec<T> vlse = Vec<T>::broadcast(lse), vga = Vec<T>::broadcast(g * a), vg = Vec<T>::broadcast(g);
  const Vec<T> vkeep = Vec<T>::broadcast(keep), vspread = Vec<T>::broadcast(spread);
  int64_t c = 0;
  for (; c + W <= n; c += W) {
    Vec<T> b = prob ? fmadd(Vec<T>::loadu(prob + c), vkeep, vspread) : vspread;
    if (w) b = b * Vec<T>::loadu(w + c);
    (vga * exp(Vec<T>::loadu(x + c) - vlse) - vg * b).storeu(dx + c);
  }
  for (; c < n; ++c) {
    const T b = (prob ? prob[c] * keep + spread : spread) * (w ? w[c] : T(1));
    dx[c] = g * a * std::exp(x[c] - lse) - g * b;
  }
}

template <typename T>
void backward_rows(const CrossEntropyProblem<T>& p, const Smoothing<T>& s, const T* lse, const T* row_grad,
                   int64_t row_grad_stride, int64_t r0, int64_t r1, T* grad) {
  const int64_t n = p.classes;
  for (int64_t i = r0; i < r1; ++i) {
    const T* x = p.logits + i * n;
    T* dx = grad + i * n;
    const T g = row_grad[i * row_grad_stride];
    if (p.target_index) {
      const int64_t y = p.target_index[i];
      if (y == p.ignore_index) {
        for (int64_t c = 0; c < n; ++c) dx[c] = 0;
        continue;
      }
      const T wy = p.weight ? p.weight[y] : T(1);
      write_row_grad(x, p.weight, static_cast<const T*>(nullptr), n, lse[i], g, s.keep * wy + s.spread * s.weight_sum,
                     s.keep, s.spread, dx);
      dx[y] -= g * s.keep * wy;
    } else {
      const T* prob = p.target_prob + i * n;
      const T mass = row_target_mass(x, prob, p.weight, n, T(0), s.keep, s.spread, static_cast<T*>(nullptr));
      write_row_grad(x, p.weight, prob, n, lse[i], g, mass, s.keep, s.spread, dx);
    }
  }
}

template <typename T>
void cross_entropy_backward(const CrossEntropyProblem<T>& p, const T* lse, const T* row_grad, int64_t row_grad_stride,
                            T* grad_logits) {
  const Smoothing<T> s = smoothing_of(p);
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(p.classes, 1));
  parallel_for(0, p.rows, grain, [&](int64_t r0, int64_t r1) {
    backward_rows(p, s, lse, row_grad, row_grad_stride, r0, r1, grad_logits);
  });
}

template <typename T>
constexpr CrossEntropyKernels<T> make_cross_entropy_kernels() {
  return {cross_entropy_forward<T>, cross_entropy_backward<T>};
}

}  // namespace

extern const CrossEntropyTable cross_entropy_table = {make_cross_entropy_kernels<float>(),
                                                      make_cross_entropy_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
