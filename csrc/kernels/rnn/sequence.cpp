// Sequence drivers: one layer in one direction, forward and backward through
// time, in one call each.
//
// Forward:  the input projection of all T steps is one GEMM; then per step
//           the recurrent GEMM and one fused gate pass over the batch rows.
// Backward: per step (last to first) the fused gate backward and one GEMM
//           carrying the gradient to the previous hidden state; then the
//           weight gradients of all steps as one GEMM each (a contraction of
//           length T*B), and the input gradient as one more.
// Compiled once with portable flags; the gate passes come from the ISA table.
#include <algorithm>
#include <cstring>
#include <utility>

#include "core/buffer.h"
#include "core/parallel.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/pack.h"
#include "kernels/rnn/rnn.h"

namespace pyengine {
namespace {

// A matrix operand for gemm: element (i, j) at data[i * rs + j * cs].
template <typename T>
struct Matrix {
  const T* data;
  int64_t rows, cols, rs, cs;
  Matrix transposed() const { return {data, cols, rows, cs, rs}; }
};

template <typename T>
Matrix<T> row_major(const T* data, int64_t rows, int64_t cols, int64_t row_stride) {
  return {data, rows, cols, row_stride, 1};
}

// Below this many multiply-adds a product runs on the calling thread: the
// per-step products of a small layer take a few microseconds, about what
// waking the other threads costs, and many times that on a loaded machine.
constexpr int64_t kThreadedGemmWork = int64_t(1) << 17;

// The product a @ b into a row-major C (row stride ldc), as gemm takes it.
template <typename T>
GemmProblem<T> product(const Matrix<T>& a, const Matrix<T>& b, T* c, int64_t ldc) {
  GemmProblem<T> p;
  p.m = a.rows;
  p.n = b.cols;
  p.k = a.cols;
  p.a = a.data;
  p.a_rs = a.rs;
  p.a_cs = a.cs;
  p.b = b.data;
  p.b_rs = b.rs;
  p.b_cs = b.cs;
  p.c = c;
  p.c_rs = ldc;
  p.c_cs = 1;
  p.threaded = a.rows * b.cols * a.cols >= kThreadedGemmWork;
  return p;
}

// C (row-major, row stride ldc) := a @ b + beta * C + bias_n, with b's
// panels from gemm_pack_b when packed_b is given. An empty contraction
// (k = 0) is written here, so gemm only ever sees real products.
template <typename T>
void matmul(const Matrix<T>& a, const Matrix<T>& b, T* c, int64_t ldc, T beta, const T* bias_n = nullptr,
            const T* packed_b = nullptr) {
  if (a.cols == 0) {
    for (int64_t i = 0; i < a.rows; ++i)
      for (int64_t j = 0; j < b.cols; ++j) {
        T& v = c[i * ldc + j];
        v = (beta != T(0) ? beta * v : T(0)) + (bias_n ? bias_n[j] : T(0));
      }
    return;
  }
  GemmProblem<T> p = product(a, b, c, ldc);
  p.beta = beta;
  p.bias_n = bias_n;
  p.packed_b = packed_b;
  gemm(p);
}

// The recurrent weight multiplies every step's state: packed once for the
// whole sequence, rather than by gemm at every step. `rows` is the batch.
// The buffer is empty (and gemm reads b in place) for shapes whose product
// does not pack b, such as a batch of one.
template <typename T>
class PackedWeight {
 public:
  PackedWeight(int64_t rows, const Matrix<T>& b)
      : PackedWeight(product<T>({nullptr, rows, b.rows, b.rows, 1}, b, nullptr, b.cols)) {}
  const T* data() const { return size_ > 0 ? buf_.as<T>() : nullptr; }

 private:
  explicit PackedWeight(const GemmProblem<T>& p) : size_(gemm_packed_b_size(p)), buf_(size_ * sizeof(T)) {
    if (size_ > 0) gemm_pack_b(p, buf_.as<T>());
  }
  int64_t size_;  // elements; the pool's block may be larger
  ScratchBuffer buf_;
};

// out[j] = sum over rows of a[r, j], each column summed in row order whatever
// the thread count, so the bias gradients are deterministic.
template <typename T>
void column_sums(const T* a, int64_t rows, int64_t cols, T* out) {
  parallel_for(0, cols, 256, [&](int64_t j0, int64_t j1) {
    std::fill(out + j0, out + j1, T(0));
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = a + r * cols;
      for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
    }
  });
}

// The gate pass of one step touches B * G * H values: a few microseconds.
// Splitting it over threads pays only when each thread gets at least this
// many, or the fork/join of the parallel region costs more than it saves.
constexpr int64_t kGatePassGrain = 16384;

template <typename T, typename F>
void for_each_batch_row(int64_t batch, int64_t row_width, const F& fn) {
  const int64_t grain = std::max<int64_t>(1, kGatePassGrain / std::max<int64_t>(row_width, 1));
  parallel_for(0, batch, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) fn(b);
  });
}

// The sizes of one layer-direction, as the forward and backward drivers use them.
struct LayerDims {
  int64_t S, B, I, H;
  int64_t GH;            // gates * hidden: the width of a row of gate pre-activations
  int64_t W;             // the width of a workspace row
  int64_t saved_offset;  // where the cell's saved values start in a workspace row
  bool lstm, gru;

  template <typename Params>
  explicit LayerDims(const Params& p)
      : S(p.seq_len), B(p.batch), I(p.input_size), H(p.hidden), GH(gate_count(p.mode) * p.hidden),
        W(workspace_width(p.mode, p.hidden)), saved_offset(has_cell_state(p.mode) ? 2 * p.hidden : p.hidden),
        lstm(has_cell_state(p.mode)), gru(p.mode == RnnMode::gru) {}
};

inline bool step_active(const int64_t* lengths, int64_t b, int64_t t) { return !lengths || t < lengths[b]; }

template <typename T>
void copy_or_zero(const T* src, T* dst, int64_t n) {
  if (src) std::copy(src, src + n, dst);
  else std::fill(dst, dst + n, T(0));
}

}  // namespace

template <typename T>
void rnn_layer_forward(const RnnLayerForward<T>& p) {
  const LayerDims d(p);
  const int64_t S = d.S, B = d.B, I = d.I, H = d.H, GH = d.GH, W = d.W;
  const bool lstm = d.lstm, gru = d.gru;
  const CellKernels<T>& cell = cell_kernels_for<T>(p.mode);

  // The running state lives in h_n (and c_n) from the start.
  std::copy(p.h0, p.h0 + B * H, p.h_n);
  if (lstm) std::copy(p.c0, p.c0 + B * H, p.c_n);
  if (S == 0 || B == 0) return;

  // RNN and LSTM add both biases before the activation, so b_hh joins the
  // input projection; GRU keeps b_hh with the recurrent product (r scales b_hn).
  ScratchBuffer bias_buf(GH * sizeof(T));
  const T* input_bias = nullptr;
  if (p.b_ih && gru) {
    input_bias = p.b_ih;
  } else if (p.b_ih) {
    T* bias = bias_buf.as<T>();
    for (int64_t j = 0; j < GH; ++j) bias[j] = p.b_ih[j] + p.b_hh[j];
    input_bias = bias;
  }

  // gx (S*B, GH) = x (S*B, I) @ w_ih^T + bias: every step's input projection at once.
  ScratchBuffer gx_buf(S * B * GH * sizeof(T));
  T* gx = gx_buf.as<T>();
  const Matrix<T> w_ih_t = row_major(p.w_ih, GH, I, I).transposed();
  // The recurrent product reads w_hh^T once per step. Stored transposed, its
  // rows are contiguous: a batch of one then runs as axpy over contiguous
  // rows and a small batch reads it in place, where w_hh^T taken through
  // strides would be gathered (packed) again at every step.
  ScratchBuffer w_hh_t_buf(H * GH * sizeof(T));
  transpose(p.w_hh, GH, H, w_hh_t_buf.as<T>());
  const Matrix<T> w_hh_t = row_major<T>(w_hh_t_buf.as<T>(), H, GH, GH);
  matmul(row_major(p.x, S * B, I, I), w_ih_t, gx, GH, T(0), input_bias);
  const PackedWeight<T> w_hh_packed(B, w_hh_t);

  ScratchBuffer gh_buf((gru ? B * GH : 0) * sizeof(T));
  T* gh = gh_buf.as<T>();
  // Without a workspace (no backward to follow) one step's rows are reused.
  ScratchBuffer step_buf((p.workspace ? 0 : B * W) * sizeof(T));

  for (int64_t s = 0; s < S; ++s) {
    const int64_t t = p.reverse ? S - 1 - s : s;
    T* ws = p.workspace ? p.workspace + t * B * W : step_buf.as<T>();
    T* gx_t = gx + t * B * GH;
    // The previous state goes into the workspace rows: the recurrent product
    // and the gate pass read it there, and the backward pass needs it.
    for (int64_t b = 0; b < B; ++b) {
      std::copy(p.h_n + b * H, p.h_n + (b + 1) * H, ws + b * W);
      if (lstm) std::copy(p.c_n + b * H, p.c_n + (b + 1) * H, ws + b * W + H);
    }
    const Matrix<T> h_prev = row_major<T>(ws, B, H, W);
    const T* const no_bias = nullptr;
    if (gru) matmul(h_prev, w_hh_t, gh, GH, T(0), p.b_hh, w_hh_packed.data());      // gh = h_prev @ w_hh^T + b_hh
    else matmul(h_prev, w_hh_t, gx_t, GH, T(1), no_bias, w_hh_packed.data());       // gx_t += h_prev @ w_hh^T

    for_each_batch_row<T>(B, GH, [&](int64_t b) {
      T* y = p.y + (t * B + b) * H;
      if (!step_active(p.lengths, b, t)) {
        std::fill(y, y + H, T(0));
        return;
      }
      T* row = ws + b * W;
      CellForwardRow<T> r{H,
                          gx_t + b * GH,
                          gru ? gh + b * GH : nullptr,
                          row,
                          lstm ? row + H : nullptr,
                          p.h_n + b * H,
                          lstm ? p.c_n + b * H : nullptr,
                          row + d.saved_offset};
      cell.forward(r);
      std::copy(r.h, r.h + H, y);
    });
  }
}

template <typename T>
void rnn_layer_backward(const RnnLayerBackward<T>& p) {
  const LayerDims d(p);
  const int64_t S = d.S, B = d.B, I = d.I, H = d.H, GH = d.GH, W = d.W;
  const bool lstm = d.lstm, gru = d.gru;
  const CellKernels<T>& cell = cell_kernels_for<T>(p.mode);

  // Gate pre-activation gradients of every step, (S*B, GH). The recurrent
  // side differs from the input side only for GRU (dgh_n = dgx_n * r).
  ScratchBuffer dgx_buf(S * B * GH * sizeof(T));
  ScratchBuffer dgh_buf((gru ? S * B * GH : 0) * sizeof(T));
  T* dgx = dgx_buf.as<T>();
  T* dgh = gru ? dgh_buf.as<T>() : dgx;
  // dh/dc flowing back into the current step, and out of it into the previous one.
  ScratchBuffer state_buf(4 * B * H * sizeof(T));
  T* dh = state_buf.as<T>();
  T* dh_prev = dh + B * H;
  T* dc = dh_prev + B * H;
  T* dc_prev = dc + B * H;
  copy_or_zero(p.dh_n, dh, B * H);
  if (lstm) copy_or_zero(p.dc_n, dc, B * H);
  const Matrix<T> w_hh = row_major(p.w_hh, GH, H, H);
  const PackedWeight<T> w_hh_packed(B, w_hh);

  for (int64_t s = S - 1; s >= 0; --s) {
    const int64_t t = p.reverse ? S - 1 - s : s;
    const T* ws = p.workspace + t * B * W;
    for_each_batch_row<T>(B, GH, [&](int64_t b) {
      const int64_t tb = t * B + b;
      if (!step_active(p.lengths, b, t)) {
        // The state passed through this step unchanged: so does its gradient.
        std::fill(dgx + tb * GH, dgx + (tb + 1) * GH, T(0));
        if (gru) std::fill(dgh + tb * GH, dgh + (tb + 1) * GH, T(0));
        std::copy(dh + b * H, dh + (b + 1) * H, dh_prev + b * H);
        if (lstm) std::copy(dc + b * H, dc + (b + 1) * H, dc_prev + b * H);
        return;
      }
      const T* row = ws + b * W;
      CellBackwardRow<T> r{H,
                           row + d.saved_offset,
                           row,
                           lstm ? row + H : nullptr,
                           dh + b * H,
                           p.dy ? p.dy + tb * H : nullptr,
                           lstm ? dc + b * H : nullptr,
                           dgx + tb * GH,
                           dgh + tb * GH,
                           dh_prev + b * H,
                           lstm ? dc_prev + b * H : nullptr};
      cell.backward(r);
    });
    // dh_prev += dgh_t (B, GH) @ w_hh (GH, H)
    const T* const no_bias = nullptr;
    matmul(row_major<T>(dgh + t * B * GH, B, GH, GH), w_hh, dh_prev, H, T(1), no_bias, w_hh_packed.data());
    std::swap(dh, dh_prev);
    std::swap(dc, dc_prev);
  }
  std::copy(dh, dh + B * H, p.dh0);
  if (lstm) std::copy(dc, dc + B * H, p.dc0);

  // Weight gradients of all steps at once, contracting over the S*B rows:
  //   dw_ih (GH, I) = dgx^T @ x        dw_hh (GH, H) = dgh^T @ h_prev
  const int64_t rows = S * B;
  matmul(row_major<T>(dgx, rows, GH, GH).transposed(), row_major(p.x, rows, I, I), p.dw_ih, I, T(0));
  matmul(row_major<T>(dgh, rows, GH, GH).transposed(), row_major(p.workspace, rows, H, W), p.dw_hh, H, T(0));
  if (p.db_ih) {
    column_sums(dgx, rows, GH, p.db_ih);
    if (gru) column_sums(dgh, rows, GH, p.db_hh);
    else std::copy(p.db_ih, p.db_ih + GH, p.db_hh);  // dgh is dgx: the same sums
  }
  // dx (S*B, I) = dgx @ w_ih
  matmul(row_major<T>(dgx, rows, GH, GH), row_major(p.w_ih, GH, I, I), p.dx, I, T(0));
}

template void rnn_layer_forward<float>(const RnnLayerForward<float>&);
template void rnn_layer_forward<double>(const RnnLayerForward<double>&);
template void rnn_layer_backward<float>(const RnnLayerBackward<float>&);
template void rnn_layer_backward<double>(const RnnLayerBackward<double>&);

}  // namespace pyengine
