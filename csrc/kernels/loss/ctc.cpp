// CTC loss: the forward (alpha) and backward (beta) recursions of Graves et
// al. (2006) over the extended label sequence, in log space so that products
// of hundreds of probabilities never underflow. Compiled once per ISA: within
// one step every state depends only on the previous step's row, so a whole
// vector of states is updated at once (three exps and a log per vector);
// the steps themselves are a chain, and the batch is split over threads.
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

template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// log(exp(a) + exp(b)) of two scalars; -inf when both are -inf (a log-space zero).
template <typename T>
T log_add_exp(T a, T b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf<T>) return a;
  return a + std::log1p(std::exp(b - a));
}

// log(exp(a) + exp(b) + exp(c)) lane by lane, shifted by the largest term.
// Where all three are -inf the shift is 0 instead (-inf - -inf would be NaN),
// and the result is log(0) = -inf.
template <typename T>
Vec<T> log_sum_exp3(Vec<T> a, Vec<T> b, Vec<T> c) {
  const Vec<T> m = max(a, max(b, c));
  const Vec<T> shift = select(m > Vec<T>::broadcast(kNegInf<T>), m, Vec<T>::zero());
  return shift + log(exp(a - shift) + exp(b - shift) + exp(c - shift));
}

// One sample's problem with its per-sample tables, built in scratch so that
// the vector loops read contiguous rows:
//   emit[t * width + s] = log y_t(l'_s) for s < states, -inf up to width;
//   skip[s] = 0 where alpha may take the skip s-2 -> s (a label differing from
//   the label two states back), -inf elsewhere and in the padding.
template <typename T>
struct CtcSample {
  const CtcProblem<T>& p;
  int64_t b, input_length, target_length, states, width;
  const int64_t* labels;
  T* emit;
  T* skip;  // valid from skip[-kCtcRowPad] to skip[width + kCtcRowPad - 1]

  CtcSample(const CtcProblem<T>& problem, int64_t sample, T* scratch)
      : p(problem),
        b(sample),
        input_length(problem.input_lengths[sample]),
        target_length(problem.target_lengths[sample]),
        states(2 * problem.target_lengths[sample] + 1),
        width(ctc_padded_states(problem.target_lengths[sample])),
        labels(problem.targets + problem.target_offsets[sample]),
        emit(scratch),
        skip(scratch + problem.time * width + kCtcRowPad) {
    for (int64_t s = -kCtcRowPad; s < width + kCtcRowPad; ++s)
      skip[s] = s >= 2 && s < states && s % 2 == 1 && labels[s / 2] != labels[s / 2 - 1] ? T(0) : kNegInf<T>;
    for (int64_t t = 0; t < input_length; ++t) {
      const T* lp = problem.log_probs + (t * problem.batch + b) * problem.classes;
      T* row = emit + t * width;
      for (int64_t s = 0; s < width; ++s) row[s] = s < states ? lp[label(s)] : kNegInf<T>;
    }
  }

  // Scratch elements a sample of the problem may need (the longest target).
  static int64_t scratch_size(const CtcProblem<T>& problem) {
    return problem.time * ctc_padded_states(problem.max_target_length) + ctc_alpha_row_stride(problem.max_target_length);
  }

  // l'(s): blank at even states, the target's labels at odd ones.
  int64_t label(int64_t s) const { return s % 2 == 0 ? p.blank : labels[s / 2]; }
  // States that are reachable from the start at step t and can still reach
  // the end by the last step: every other state has alpha * beta = 0.
  int64_t window_begin(int64_t t) const { return std::max<int64_t>(0, states - 2 * (input_length - t)); }
  int64_t window_end(int64_t t) const { return std::min<int64_t>(states, 2 * (t + 1)); }
};

// The vector loops below start at the window's first state rounded down to a
// whole vector and may end past the window: the extra lanes compute the same
// recursion from values that are at most the true ones (-inf where the true
// value is -inf), so they never feed a finite value into the window.
template <typename T>
int64_t vector_begin(int64_t s0) {
  return s0 - s0 % Vec<T>::size;
}

// alpha_t(s) = y_t(l'_s) (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2)), in logs.
template <typename T>
void alpha_step(const T* prev, const T* emit, const T* skip, int64_t s0, int64_t s1, T* cur) {
  using V = Vec<T>;
  for (int64_t s = vector_begin<T>(s0); s < s1; s += V::size) {
    const V skipped = V::loadu(prev + s - 2) + V::loadu(skip + s);
    (log_sum_exp3(V::loadu(prev + s), V::loadu(prev + s - 1), skipped) + V::loadu(emit + s)).storeu(cur + s);
  }
}

// beta_t(s) = y_t(l'_s) (beta_{t+1}(s) + beta_{t+1}(s+1) + [skip] beta_{t+1}(s+2)), in logs.
template <typename T>
void beta_step(const T* next, const T* emit, const T* skip, int64_t s0, int64_t s1, T* cur) {
  using V = Vec<T>;
  for (int64_t s = vector_begin<T>(s0); s < s1; s += V::size) {
    const V skipped = V::loadu(next + s + 2) + V::loadu(skip + s + 2);
    (log_sum_exp3(V::loadu(next + s), V::loadu(next + s + 1), skipped) + V::loadu(emit + s)).storeu(cur + s);
  }
}

template <typename T>
void forward_sample(const CtcSample<T>& smp, int64_t stride, T* loss, T* la) {
  const CtcProblem<T>& p = smp.p;
  std::fill(la, la + p.time * stride, kNegInf<T>);
  const int64_t S = smp.states, Tn = smp.input_length;
  if (Tn == 0) {  // no steps: only the empty target has an alignment
    *loss = smp.target_length == 0 ? T(0) : std::numeric_limits<T>::infinity();
    return;
  }
  auto row = [&](int64_t t) { return la + t * stride + kCtcRowPad; };
  row(0)[0] = smp.emit[0];
  if (S > 1) row(0)[1] = smp.emit[1];
  for (int64_t t = 1; t < Tn; ++t)
    alpha_step(row(t - 1), smp.emit + t * smp.width, smp.skip, smp.window_begin(t), smp.window_end(t), row(t));
  // A path ends on the last label or on the blank after it.
  *loss = -log_add_exp(row(Tn - 1)[S - 1], S > 1 ? row(Tn - 1)[S - 2] : kNegInf<T>);
}

// Walks t down from the last step, computing beta_t from beta_{t+1} (two rows
// of scratch), and turns alpha_t * beta_t into the gradient row of step t:
//   d loss / d log y_t(c) = -sum_{s: l'(s)=c} exp(alpha_t(s) + beta_t(s) - log y_t(c) + loss)
// as alpha and beta both include the emission y_t(l'(s)) of step t. Each term
// is the posterior probability of state s at step t, at most 1, so the sum
// runs in linear space: one exp per state, no log-sum-exp, no overflow.
template <typename T>
void backward_sample(const CtcSample<T>& smp, int64_t stride, T g, T nll, const T* la, bool zero_infinity,
                     T* beta_rows, T* grad) {
  using V = Vec<T>;
  const CtcProblem<T>& p = smp.p;
  const int64_t S = smp.states, Tn = smp.input_length, C = p.classes;
  auto grad_row = [&](int64_t t) { return grad + (t * p.batch + smp.b) * C; };
  const bool infinite = std::isinf(nll);
  for (int64_t t = Tn == 0 || infinite ? 0 : Tn; t < p.time; ++t) std::fill(grad_row(t), grad_row(t) + C, T(0));
  // An impossible target has no gradient: NaN, as in PyTorch, unless zero_infinity.
  if (infinite && !zero_infinity)
    for (int64_t t = 0; t < Tn; ++t) std::fill(grad_row(t), grad_row(t) + C, std::numeric_limits<T>::quiet_NaN());
  if (Tn == 0 || infinite) return;

  T* next = beta_rows + kCtcRowPad;
  T* cur = beta_rows + stride + kCtcRowPad;
  T* posterior = beta_rows + 2 * stride;  // width elements
  const V vnll = V::broadcast(nll), neg_inf = V::broadcast(kNegInf<T>);
  for (int64_t t = Tn - 1; t >= 0; --t) {
    const T* emit = smp.emit + t * smp.width;
    const int64_t s0 = smp.window_begin(t), s1 = smp.window_end(t);
    std::fill(cur - kCtcRowPad, cur + smp.width + kCtcRowPad, kNegInf<T>);
    if (t == Tn - 1) {
      cur[S - 1] = emit[S - 1];
      if (S > 1) cur[S - 2] = emit[S - 2];
    } else {
      beta_step(next, emit, smp.skip, s0, s1, cur);
    }
    // Posterior of each state; 0 where alpha * beta = 0 (also when the
    // emission itself is 0, where the formula would give -inf + inf).
    const T* alpha = la + t * stride + kCtcRowPad;
    for (int64_t s = vector_begin<T>(s0); s < s1; s += V::size) {
      const V ab = V::loadu(alpha + s) + V::loadu(cur + s);
      select(ab > neg_inf, exp(ab - V::loadu(emit + s) + vnll), V::zero()).storeu(posterior + s);
    }
    T* out = grad_row(t);
    std::fill(out, out + C, T(0));
    for (int64_t s = s0; s < s1; ++s) out[smp.label(s)] -= g * posterior[s];
    std::swap(cur, next);
  }
}

template <typename T>
void ctc_loss_forward(const CtcProblem<T>& p, T* loss, T* log_alpha) {
  const int64_t stride = ctc_alpha_row_stride(p.max_target_length);
  parallel_for(0, p.batch, 1, [&](int64_t b0, int64_t b1) {
    ScratchBuffer tables(static_cast<std::size_t>(CtcSample<T>::scratch_size(p)) * sizeof(T));
    for (int64_t b = b0; b < b1; ++b)
      forward_sample(CtcSample<T>(p, b, tables.as<T>()), stride, loss + b, log_alpha + b * p.time * stride);
  });
}

template <typename T>
void ctc_loss_backward(const CtcProblem<T>& p, const T* grad_loss, const T* loss, const T* log_alpha,
                       bool zero_infinity, T* grad_log_probs) {
  const int64_t stride = ctc_alpha_row_stride(p.max_target_length);
  parallel_for(0, p.batch, 1, [&](int64_t b0, int64_t b1) {
    ScratchBuffer tables(static_cast<std::size_t>(CtcSample<T>::scratch_size(p)) * sizeof(T));
    ScratchBuffer beta(3 * static_cast<std::size_t>(stride) * sizeof(T));
    for (int64_t b = b0; b < b1; ++b)
      backward_sample(CtcSample<T>(p, b, tables.as<T>()), stride, grad_loss[b], loss[b],
                      log_alpha + b * p.time * stride, zero_infinity, beta.as<T>(), grad_log_probs);
  });
}

template <typename T>
constexpr CtcKernels<T> make_ctc_kernels() {
  return {ctc_loss_forward<T>, ctc_loss_backward<T>};
}

}  // namespace

extern const CtcTable ctc_table = {make_ctc_kernels<float>(), make_ctc_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
