// Loss kernels: fused cross-entropy (log-softmax + negative log-likelihood in
// one pass over each row) and the CTC forward-backward recursions.
#pragma once
#include <cstdint>

#include "core/dispatch.h"

namespace pyengine {

// Cross-entropy over `rows` independent rows of `classes` logits:
//
//   lse_i   = log sum_c exp(x_ic)                 (log-softmax: x_ic - lse_i)
//   index target y_i, smoothing e, class weights w (all 1 when absent):
//     loss_i = (1 - e) w[y_i] (lse_i - x_iy) + e/C sum_c w_c (lse_i - x_ic)
//     rows with y_i == ignore_index give 0 and weigh 0 in the mean
//   probability target p_ic:
//     q_ic   = (1 - e) p_ic + e/C
//     loss_i = sum_c w_c q_ic (lse_i - x_ic)
template <typename T>
struct CrossEntropyProblem {
  int64_t rows = 0, classes = 0;
  const T* logits = nullptr;             // rows x classes, contiguous
  const int64_t* target_index = nullptr;  // rows labels in [0, classes) or ignore_index
  const T* target_prob = nullptr;        // rows x classes, contiguous (when no index target)
  const T* weight = nullptr;             // classes, or nullptr for all ones
  int64_t ignore_index = -100;
  T label_smoothing = 0;
};

// Writes row_loss[i] and lse[i] for every row and returns, summed over the
// rows in index order (so bit-identical for any thread count):
//   *loss_sum   = sum_i row_loss[i]
//   *weight_sum = sum_i w[y_i] over rows not ignored (index target), rows (probabilities)
template <typename T>
using CrossEntropyForwardFn = void (*)(const CrossEntropyProblem<T>& p, T* row_loss, T* lse, double* loss_sum,
                                       double* weight_sum);
// grad_logits[i, c] = g_i * d loss_i / d x_ic with g_i = row_grad[i * row_grad_stride]
// (stride 0: one factor for every row, the mean and sum reductions).
template <typename T>
using CrossEntropyBackwardFn = void (*)(const CrossEntropyProblem<T>& p, const T* lse, const T* row_grad,
                                        int64_t row_grad_stride, T* grad_logits);

template <typename T>
struct CrossEntropyKernels {
  CrossEntropyForwardFn<T> forward;
  CrossEntropyBackwardFn<T> backward;
};

struct CrossEntropyTable {
  CrossEntropyKernels<float> f32;
  CrossEntropyKernels<double> f64;
};

// One definition per compiled ISA, in cross_entropy.cpp.
namespace scalar { extern const CrossEntropyTable cross_entropy_table; }
namespace avx2 { extern const CrossEntropyTable cross_entropy_table; }

const CrossEntropyTable& cross_entropy_kernels();  // the active ISA's table

template <typename T>
const CrossEntropyKernels<T>& cross_entropy_kernels_for() {
  if constexpr (sizeof(T) == 4) return cross_entropy_kernels().f32;
  else return cross_entropy_kernels().f64;
}

// Connectionist temporal classification over a batch, PyTorch's layout:
// log_probs is time x batch x classes (contiguous), sample b reads
// input_lengths[b] steps and the labels targets[target_offsets[b] + j] for
// j < target_lengths[b]. The extended label sequence l' of a target of length
// L is blank, y_0, blank, y_1, ..., blank (2L + 1 states).
template <typename T>
struct CtcProblem {
  int64_t time = 0, batch = 0, classes = 0;
  const T* log_probs = nullptr;
  const int64_t* targets = nullptr;
  const int64_t* target_offsets = nullptr;  // batch
  const int64_t* input_lengths = nullptr;   // batch, each <= time
  const int64_t* target_lengths = nullptr;  // batch
  int64_t max_target_length = 0;
  int64_t blank = 0;
};

// States are processed a whole vector at a time, so a row of forward variables
// holds the 2L + 1 states rounded up to kCtcStateBlock (the widest vector of
// any ISA), with two -inf entries on either side for the s-1, s-2 (forward)
// and s+1, s+2 (backward) neighbours of the first and last states.
constexpr int64_t kCtcStateBlock = 16;
constexpr int64_t kCtcRowPad = 2;
inline int64_t ctc_padded_states(int64_t target_length) {
  return (2 * target_length + 1 + kCtcStateBlock - 1) / kCtcStateBlock * kCtcStateBlock;
}
inline int64_t ctc_alpha_row_stride(int64_t max_target_length) {
  return ctc_padded_states(max_target_length) + 2 * kCtcRowPad;
}

// loss[b] = -log p(target_b | log_probs), +inf when no alignment exists;
// log_alpha (batch x time x ctc_alpha_row_stride) keeps the forward variables
// for the backward pass.
template <typename T>
using CtcForwardFn = void (*)(const CtcProblem<T>& p, T* loss, T* log_alpha);

// grad_log_probs[t, b, c] = grad_loss[b] * d loss[b] / d log_probs[t, b, c], the
// log-probabilities taken as free variables; 0 for t >= input_lengths[b]. When
// loss[b] is infinite (no alignment) the sample's gradient is 0 with
// zero_infinity and NaN for t < input_lengths[b] without it, as in PyTorch.
template <typename T>
using CtcBackwardFn = void (*)(const CtcProblem<T>& p, const T* grad_loss, const T* loss, const T* log_alpha,
                               bool zero_infinity, T* grad_log_probs);

template <typename T>
struct CtcKernels {
  CtcForwardFn<T> forward;
  CtcBackwardFn<T> backward;
};

struct CtcTable {
  CtcKernels<float> f32;
  CtcKernels<double> f64;
};

// One definition per compiled ISA, in ctc.cpp.
namespace scalar { extern const CtcTable ctc_table; }
namespace avx2 { extern const CtcTable ctc_table; }

const CtcTable& ctc_kernels();  // the active ISA's table

template <typename T>
const CtcKernels<T>& ctc_kernels_for() {
  if constexpr (sizeof(T) == 4) return ctc_kernels().f32;
  else return ctc_kernels().f64;
}

}  // namespace pyengine
