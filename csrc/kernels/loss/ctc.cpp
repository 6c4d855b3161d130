// CTC loss: the forward (alpha) and backward (beta) recursions of Graves et
// al. (2006) over the extended label sequence, in log space so that products
// of hundreds of probabilities never underflow. Compiled once with portable
// flags: each step is a chain of scalar log-sum-exps over a few dozen states,
// which the batch, not the vector width, parallelises.
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/buffer.h"
#include "core/parallel.h"
#include "kernels/loss/loss.h"

namespace pyengine {
namespace {

template <typename T>
constexpr T kNegInf = -std::numeric_limits<T>::infinity();

// log(exp(a) + exp(b)); -inf when both are -inf (a log-space zero).
template <typename T>
inline T log_add_exp(T a, T b) {
  if (a < b) std::swap(a, b);
  if (b == kNegInf<T>) return a;
  return a + std::log1p(std::exp(b - a));
}

// log(exp(a) + exp(b) + exp(c)), shifted by the largest term, whose own
// exp(0) = 1 is not computed: two exps and a log1p per state.
template <typename T>
inline T log_sum_exp3(T a, T b, T c) {
  if (a < b) std::swap(a, b);
  if (a < c) std::swap(a, c);
  if (a == kNegInf<T>) return a;
  return a + std::log1p(std::exp(b - a) + std::exp(c - a));
}

// One sample's view of the problem: its labels, lengths and log-probabilities.
template <typename T>
struct CtcSample {
  const CtcProblem<T>& p;
  int64_t b;
  int64_t input_length, target_length, states;  // states = 2 * target_length + 1
  const int64_t* labels;

  CtcSample(const CtcProblem<T>& problem, int64_t sample)
      : p(problem),
        b(sample),
        input_length(problem.input_lengths[sample]),
        target_length(problem.target_lengths[sample]),
        states(2 * problem.target_lengths[sample] + 1),
        labels(problem.targets + problem.target_offsets[sample]) {}

  // l'(s): blank at even states, the target's labels at odd ones.
  int64_t label(int64_t s) const { return s % 2 == 0 ? p.blank : labels[s / 2]; }
  T log_prob(int64_t t, int64_t c) const { return p.log_probs[(t * p.batch + b) * p.classes + c]; }
  // alpha(s) may take the skip s-2 -> s over a blank only between different labels.
  bool can_skip(int64_t s) const { return s >= 2 && s % 2 == 1 && labels[s / 2] != labels[s / 2 - 1]; }
  // States that are reachable from the start at step t and can still reach
  // the end by the last step: every other state has alpha * beta = 0.
  int64_t window_begin(int64_t t) const { return std::max<int64_t>(0, states - 2 * (input_length - t)); }
  int64_t window_end(int64_t t) const { return std::min<int64_t>(states, 2 * (t + 1)); }
};

template <typename T>
void forward_sample(const CtcSample<T>& smp, int64_t stride, T* loss, T* la) {
  const CtcProblem<T>& p = smp.p;
  std::fill(la, la + p.time * stride, kNegInf<T>);
  const int64_t S = smp.states, Tn = smp.input_length;
  if (Tn == 0) {  // no steps: only the empty target has an alignment
    *loss = smp.target_length == 0 ? T(0) : std::numeric_limits<T>::infinity();
    return;
  }
  la[0] = smp.log_prob(0, p.blank);
  if (S > 1) la[1] = smp.log_prob(0, smp.labels[0]);
  for (int64_t t = 1; t < Tn; ++t) {
    const T* prev = la + (t - 1) * stride;
    T* cur = la + t * stride;
    for (int64_t s = smp.window_begin(t); s < smp.window_end(t); ++s) {
      const T stay = prev[s];
      const T advance = s >= 1 ? prev[s - 1] : kNegInf<T>;
      const T skip = smp.can_skip(s) ? prev[s - 2] : kNegInf<T>;
      cur[s] = log_sum_exp3(stay, advance, skip) + smp.log_prob(t, smp.label(s));
    }
  }
  // A path ends on the last label or on the blank after it.
  const T* last = la + (Tn - 1) * stride;
  *loss = -log_add_exp(last[S - 1], S > 1 ? last[S - 2] : kNegInf<T>);
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
  const CtcProblem<T>& p = smp.p;
  const int64_t S = smp.states, Tn = smp.input_length, C = p.classes;
  auto grad_row = [&](int64_t t) { return grad + (t * p.batch + smp.b) * C; };
  const bool infinite = std::isinf(nll);
  for (int64_t t = Tn == 0 || infinite ? 0 : Tn; t < p.time; ++t) std::fill(grad_row(t), grad_row(t) + C, T(0));
  // An impossible target has no gradient: NaN, as in PyTorch, unless zero_infinity.
  if (infinite && !zero_infinity)
    for (int64_t t = 0; t < Tn; ++t) std::fill(grad_row(t), grad_row(t) + C, std::numeric_limits<T>::quiet_NaN());
  if (Tn == 0 || infinite) return;

  T* next = beta_rows;
  T* cur = beta_rows + stride;
  for (int64_t t = Tn - 1; t >= 0; --t) {
    std::fill(cur, cur + S, kNegInf<T>);
    const int64_t s0 = smp.window_begin(t), s1 = smp.window_end(t);
    if (t == Tn - 1) {
      cur[S - 1] = smp.log_prob(t, p.blank);
      if (S > 1) cur[S - 2] = smp.log_prob(t, smp.labels[smp.target_length - 1]);
    } else {
      for (int64_t s = s0; s < s1; ++s) {
        const T stay = next[s];
        const T advance = s + 1 < S ? next[s + 1] : kNegInf<T>;
        const T skip = s + 2 < S && smp.can_skip(s + 2) ? next[s + 2] : kNegInf<T>;
        cur[s] = log_sum_exp3(stay, advance, skip) + smp.log_prob(t, smp.label(s));
      }
    }
    T* row = grad_row(t);
    std::fill(row, row + C, T(0));
    const T* alpha = la + t * stride;
    for (int64_t s = s0; s < s1; ++s) {
      const int64_t c = smp.label(s);
      row[c] -= g * std::exp(alpha[s] + cur[s] - smp.log_prob(t, c) + nll);
    }
    std::swap(cur, next);
  }
}

}  // namespace

template <typename T>
void ctc_loss_forward(const CtcProblem<T>& p, T* loss, T* log_alpha) {
  const int64_t stride = 2 * p.max_target_length + 1;
  parallel_for(0, p.batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      forward_sample(CtcSample<T>(p, b), stride, loss + b, log_alpha + b * p.time * stride);
  });
}

template <typename T>
void ctc_loss_backward(const CtcProblem<T>& p, const T* grad_loss, const T* loss, const T* log_alpha,
                       bool zero_infinity, T* grad_log_probs) {
  const int64_t stride = 2 * p.max_target_length + 1;
  parallel_for(0, p.batch, 1, [&](int64_t b0, int64_t b1) {
    ScratchBuffer beta(2 * static_cast<std::size_t>(stride) * sizeof(T));
    for (int64_t b = b0; b < b1; ++b)
      backward_sample(CtcSample<T>(p, b), stride, grad_loss[b], loss[b], log_alpha + b * p.time * stride,
                      zero_infinity, beta.as<T>(), grad_log_probs);
  });
}

template void ctc_loss_forward<float>(const CtcProblem<float>&, float*, float*);
template void ctc_loss_forward<double>(const CtcProblem<double>&, double*, double*);
template void ctc_loss_backward<float>(const CtcProblem<float>&, const float*, const float*, const float*, bool,
                                       float*);
template void ctc_loss_backward<double>(const CtcProblem<double>&, const double*, const double*, const double*, bool,
                                        double*);

}  // namespace pyengine
