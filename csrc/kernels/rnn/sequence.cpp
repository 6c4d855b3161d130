// Sequence drivers: one layer in one direction, forward and backward through
// time, in one call each.
//
// Forward:  the input projection of all T steps is one GEMM; then per step
//           the recurrent GEMM and one fused gate pass over the batch rows.
// Backward: per step (last to first) the fused gate backward and one GEMM
//           carrying the gradient to the previous hidden state; then the
//           weight gradients of all steps as one GEMM each (a contraction of
//           length T*B), and the input gradient as one more.
// Threads: a batch of up to kUnitSplitBatch rows shares out its hidden units
// for the whole sequence (one barrier per step) and, when they are small,
// takes the backward's final products each whole on one thread; a larger
// batch threads each step's GEMM and gate pass, and each product.
// Compiled once with portable flags; the gate passes come from the ISA table.
#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "core/parallel.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/pack.h"
#include "kernels/gemm/ukernel.h"
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

// Batches up to this size run each step's products on w_hh in place (the
// matrix-vector and skinny paths of gemm), where an element's sum does not
// depend on which columns a call covers, and w_hh is never packed (the
// threads' shares are gathered instead). It is gemm's own bound, so the two
// cannot drift apart. The threads then share out the hidden units for the
// whole sequence and meet once per step, rather than each step's few
// microseconds of products being split and joined (and at a batch of one, not
// split at all): each thread reads only its units' share of w_hh, from its
// own core's L2.
constexpr int64_t kUnitSplitBatch = kGemmSkinny;
// Each thread's share of a step's recurrent product is at least this many
// multiply-adds (about a microsecond), or the barrier costs more than it saves.
constexpr int64_t kUnitSplitWork = 16384;
// The largest final product of the backward that threads sharing out the
// units still take whole (see whole_products).
constexpr int64_t kWholeProductWork = int64_t(1) << 23;
// Units are shared out in whole vectors, at least one per thread: a product
// over a single column would run gemm's dot-form matrix-vector kernel, whose
// sums are ordered differently from the FMA chains of a wider one.
constexpr int64_t kUnitChunk = 8;

// The threads that share out the units of a layer, one when each step's
// products are threaded instead.
inline int unit_split_threads(int64_t batch, int64_t hidden, int64_t gate_width) {
  if (batch > kUnitSplitBatch) return 1;
  const int64_t by_work = batch * hidden * gate_width / kUnitSplitWork;
  const int64_t by_units = hidden / kUnitChunk;
  return static_cast<int>(std::clamp<int64_t>(std::min(by_work, by_units), 1, get_num_threads()));
}

// Thread tid's units [first, last) of hidden: whole chunks, the last thread
// taking the remainder, so a share is never narrower than a chunk.
struct UnitRange {
  int64_t first, last;
  UnitRange(int64_t hidden, int tid, int nthreads) {
    const int64_t chunks = std::max<int64_t>(1, hidden / kUnitChunk);
    first = split_begin(0, chunks, nthreads, tid) * kUnitChunk;
    last = tid + 1 == nthreads ? hidden : split_begin(0, chunks, nthreads, tid + 1) * kUnitChunk;
  }
  int64_t count() const { return last - first; }
  bool whole(int64_t hidden) const { return first == 0 && last == hidden; }
};

// dst (m.rows, blocks * count) := m's columns first + g * stride .. + count
// for each block g, side by side: a thread's share of a weight's columns, so
// that its products stream one contiguous block (held in its own core's L2)
// rather than short pieces of every row.
// A matrix whose columns are strided (the forward's w_hh^T, a transposed
// view) is read eight columns at a time down all its rows: eight source
// lines read in order, where a whole row of dst at a time touches a line per
// column (512 at a batch of one) and ran 2-2.7x slower.
template <typename T>
void gather_columns(const Matrix<T>& m, int64_t first, int64_t stride, int64_t count, int64_t blocks, T* dst) {
  const auto at = [&](int64_t r, int64_t g, int64_t j) { return m.data[r * m.rs + (g * stride + first + j) * m.cs]; };
  if (m.cs == 1) {
    for (int64_t r = 0; r < m.rows; ++r)
      for (int64_t g = 0; g < blocks; ++g)
        for (int64_t j = 0; j < count; ++j) dst[(r * blocks + g) * count + j] = at(r, g, j);
    return;
  }
  constexpr int64_t kColumns = 8;
  for (int64_t g = 0; g < blocks; ++g)
    for (int64_t j0 = 0; j0 < count; j0 += kColumns)
      for (int64_t r = 0; r < m.rows; ++r)
        for (int64_t j = j0; j < std::min(count, j0 + kColumns); ++j) dst[(r * blocks + g) * count + j] = at(r, g, j);
}

// out (B, n) = a (B, k) @ w (k, n), w and out contiguous: a thread's product
// over its own columns. A batch of one calls the matrix-vector kernel
// directly: gemm's checks, path choice and epilogue pass cost several percent
// of a step, and the FMAs are the ones its matrix-vector path would run.
template <typename T>
void own_columns_product(const Matrix<T>& a, const T* w, int64_t n, T* out) {
  if (a.rows == 1 && a.cs == 1) return gemm_kernels_for<T>().gemv_axpy(a.cols, n, a.data, w, n, out);
  matmul(a, row_major<T>(w, a.cols, n, n), out, n, T(0));
}

// The columns of a (rows, blocks * count) product back in place in C (row
// stride ldc, block g at column g * stride + first): added to C (LSTM and RNN
// gates, hidden-state gradients) or, with the bias, stored (GRU's W_hh h +
// b_hh). Each element gets the sum a product over all of C's columns would
// have given it.
template <typename T>
void scatter_columns(const T* part, int64_t rows, int64_t first, int64_t stride, int64_t count, int64_t blocks,
                     bool add, const T* bias, T* c, int64_t ldc) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < blocks; ++g) {
      const T* from = part + (r * blocks + g) * count;
      T* to = c + r * ldc + g * stride + first;
      if (add) {
        for (int64_t j = 0; j < count; ++j) to[j] += from[j];
      } else if (bias) {
        for (int64_t j = 0; j < count; ++j) to[j] = from[j] + bias[g * stride + first + j];
      } else {
        std::copy(from, from + count, to);
      }
    }
}

}  // namespace

template <typename T>
void rnn_layer_forward(const RnnLayerForward<T>& p) {
  const LayerDims d(p);
  const int64_t S = d.S, B = d.B, I = d.I, H = d.H, GH = d.GH, W = d.W;
  const bool lstm = d.lstm, gru = d.gru;
  const CellKernels<T>& cell = cell_kernels_for<T>(p.mode);

  if (S == 0 || B == 0) {  // the state is left as it was
    std::copy(p.h0, p.h0 + B * H, p.h_n);
    if (lstm) std::copy(p.c0, p.c0 + B * H, p.c_n);
    return;
  }

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
  matmul(row_major(p.x, S * B, I, I), w_ih_t, gx, GH, T(0), input_bias);
  // The recurrent product reads w_hh^T at every step. A batch big enough for
  // the blocked product reads it from panels packed once, straight from w_hh.
  // Smaller ones read it in place, so it is stored transposed, rows
  // contiguous: a batch of one then runs as axpy over contiguous rows, where
  // w_hh^T taken through strides would be gathered again at every step.
  // Threads that share out the units gather their own columns instead.
  const int unit_threads = unit_split_threads(B, H, GH);
  Matrix<T> w_hh_t = row_major(p.w_hh, GH, H, H).transposed();
  const PackedWeight<T> w_hh_packed(B, w_hh_t);
  const bool transposed = !w_hh_packed.data() && unit_threads == 1;
  ScratchBuffer w_hh_t_buf((transposed ? H * GH : 0) * sizeof(T));
  if (transposed) {
    transpose(p.w_hh, GH, H, w_hh_t_buf.as<T>());
    w_hh_t = row_major<T>(w_hh_t_buf.as<T>(), H, GH, GH);
  }

  ScratchBuffer gh_buf((gru ? B * GH : 0) * sizeof(T));
  T* gh = gh_buf.as<T>();
  // Step t's rows start with its previous state, which step t - 1 writes
  // there. Without a workspace (no backward to follow) two steps' rows take
  // turns.
  ScratchBuffer step_buf((p.workspace ? 0 : 2 * B * W) * sizeof(T));
  const auto step_of = [&](int64_t s) { return p.reverse ? S - 1 - s : s; };
  const auto rows_of = [&](int64_t s) {
    return p.workspace ? p.workspace + step_of(s) * B * W : step_buf.as<T>() + s % 2 * B * W;
  };
  for (int64_t b = 0; b < B; ++b) {
    std::copy(p.h0 + b * H, p.h0 + (b + 1) * H, rows_of(0) + b * W);
    if (lstm) std::copy(p.c0 + b * H, p.c0 + (b + 1) * H, rows_of(0) + b * W + H);
  }

  // A thread's share of the units comes with the columns of w_hh^T for its
  // units' gates, (H, G * units), and their product, (B, G * units): slices
  // of two buffers that the shares fill side by side.
  const int64_t G = GH / H;
  const bool in_place = transposed || w_hh_packed.data();
  ScratchBuffer w_mine_buf((in_place ? 0 : H * GH) * sizeof(T));
  ScratchBuffer gates_mine_buf((in_place ? 0 : B * GH) * sizeof(T));
  SpinBarrier step_done;
  parallel_run(unit_threads, [&](int tid, int nt) {
    const UnitRange u(H, tid, nt);
    const int64_t u0 = u.first, cols = G * u.count();
    // One product over every unit reads w_hh^T in place when it is packed or
    // transposed (a nested call that runs on one thread gathers it whole).
    const bool whole = u.whole(H) && in_place;
    T* const w_mine = w_mine_buf.as<T>() + H * G * u0;
    T* const gates_mine = gates_mine_buf.as<T>() + B * G * u0;
    if (!whole) gather_columns(w_hh_t, u0, H, u.count(), G, w_mine);
    for (int64_t s = 0; s < S; ++s) {
      const int64_t t = step_of(s);
      T* ws = rows_of(s);
      T* next = s + 1 < S ? rows_of(s + 1) : nullptr;  // the last step writes h_n and c_n
      T* gx_t = gx + t * B * GH;
      const Matrix<T> h_prev = row_major<T>(ws, B, H, W);
      // gx_t += h_prev @ w_hh^T, or for GRU gh = h_prev @ w_hh^T + b_hh
      T* const rec = gru ? gh : gx_t;
      const T beta = gru ? T(0) : T(1);
      if (whole) {
        matmul(h_prev, w_hh_t, rec, GH, beta, gru ? p.b_hh : nullptr, w_hh_packed.data());
      } else {
        own_columns_product(h_prev, w_mine, cols, gates_mine);
        scatter_columns(gates_mine, B, u0, H, u.count(), G, !gru, p.b_hh, rec, GH);
      }

      for_each_batch_row<T>(B, GH, [&](int64_t b) {
        T* row = ws + b * W;
        T* h = next ? next + b * W : p.h_n + b * H;
        T* c = lstm ? (next ? next + b * W + H : p.c_n + b * H) : nullptr;
        T* y = p.y + (t * B + b) * H + u0;
        if (!step_active(p.lengths, b, t)) {
          // The state passes through unchanged.
          std::copy(row + u0, row + u.last, h + u0);
          if (lstm) std::copy(row + H + u0, row + H + u.last, c + u0);
          std::fill(y, y + u.count(), T(0));
          return;
        }
        CellForwardRow<T> r{H,
                            u.count(),
                            gx_t + b * GH + u0,
                            gru ? gh + b * GH + u0 : nullptr,
                            row + u0,
                            lstm ? row + H + u0 : nullptr,
                            h + u0,
                            lstm ? c + u0 : nullptr,
                            row + d.saved_offset + u0};
        cell.forward(r);
        std::copy(r.h, r.h + u.count(), y);
      });
      step_done.wait(nt);  // every unit of the new state is written
    }
  });
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

  // After the steps, the weight gradients of all steps at once, contracting
  // over the S*B rows,
  //   dw_ih (GH, I) = dgx^T @ x        dw_hh (GH, H) = dgh^T @ h_prev,
  // the bias gradients and dx (S*B, I) = dgx @ w_ih: independent products.
  const int64_t rows = S * B;
  struct Task {
    int64_t work;
    std::function<void()> run;
  };
  std::vector<Task> tasks = {
      {GH * H * rows,
       [&] {
         matmul(row_major<T>(dgh, rows, GH, GH).transposed(), row_major(p.workspace, rows, H, W), p.dw_hh, H, T(0));
       }},
      {GH * I * rows,
       [&] { matmul(row_major<T>(dgx, rows, GH, GH).transposed(), row_major(p.x, rows, I, I), p.dw_ih, I, T(0)); }},
      {rows * GH * I, [&] { matmul(row_major<T>(dgx, rows, GH, GH), row_major(p.w_ih, GH, I, I), p.dx, I, T(0)); }},
      {GH * rows, [&] {
         if (!p.db_ih) return;
         column_sums(dgx, rows, GH, p.db_ih);
         if (gru) column_sums(dgh, rows, GH, p.db_hh);
         else std::copy(p.db_ih, p.db_ih + GH, p.db_hh);  // dgh is dgx: the same sums
       }}};
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.work > b.work; });

  // A thread's share of the units comes with w_hh's columns for them,
  // (G*H, units), and their product, (B, units), as in the forward.
  const int unit_threads = unit_split_threads(B, H, GH);
  // Threads that share out the units take the final products whole, each
  // on one thread, when the products are small: at batch 1 (the largest
  // 6.5M multiply-adds) a threaded product spent a measurable part of its
  // tens of microseconds waking the other thread and at its barriers. Larger
  // ones run after the steps, each threaded, which balances them better.
  const bool whole_products = unit_threads > 1 && tasks.front().work <= kWholeProductWork;
  ScratchBuffer w_mine_buf((unit_threads > 1 ? GH * H : 0) * sizeof(T));
  ScratchBuffer dh_mine_buf((unit_threads > 1 ? B * H : 0) * sizeof(T));
  SpinBarrier gates_done;
  parallel_run(unit_threads, [&](int tid, int nt) {
    const UnitRange u(H, tid, nt);
    const int64_t u0 = u.first;
    const bool whole = u.whole(H);
    T* const w_mine = w_mine_buf.as<T>() + GH * u0;
    T* const dh_mine = dh_mine_buf.as<T>() + B * u0;
    if (!whole) gather_columns(w_hh, u0, 0, u.count(), 1, w_mine);
    // Every thread swaps the same pointers, so they agree on which is which.
    T *dh_in = dh, *dh_out = dh_prev, *dc_in = dc, *dc_out = dc_prev;
    for (int64_t s = S - 1; s >= 0; --s) {
      const int64_t t = p.reverse ? S - 1 - s : s;
      const T* ws = p.workspace + t * B * W;
      for_each_batch_row<T>(B, GH, [&](int64_t b) {
        const int64_t tb = t * B + b;
        if (!step_active(p.lengths, b, t)) {
          // The state passed through this step unchanged: so does its gradient.
          for (int64_t col = u0; col < GH; col += H) {
            std::fill(dgx + tb * GH + col, dgx + tb * GH + col + u.count(), T(0));
            if (gru) std::fill(dgh + tb * GH + col, dgh + tb * GH + col + u.count(), T(0));
          }
          std::copy(dh_in + b * H + u0, dh_in + b * H + u.last, dh_out + b * H + u0);
          if (lstm) std::copy(dc_in + b * H + u0, dc_in + b * H + u.last, dc_out + b * H + u0);
          return;
        }
        const T* row = ws + b * W;
        CellBackwardRow<T> r{H,
                             u.count(),
                             row + d.saved_offset + u0,
                             row + u0,
                             lstm ? row + H + u0 : nullptr,
                             dh_in + b * H + u0,
                             p.dy ? p.dy + tb * H + u0 : nullptr,
                             lstm ? dc_in + b * H + u0 : nullptr,
                             dgx + tb * GH + u0,
                             dgh + tb * GH + u0,
                             dh_out + b * H + u0,
                             lstm ? dc_out + b * H + u0 : nullptr};
        cell.backward(r);
      });
      gates_done.wait(nt);  // the product below reads every unit's gate gradients
      // dh_out[:, my units] += dgh_t (B, GH) @ w_hh[:, my units]
      const Matrix<T> dgh_t = row_major<T>(dgh + t * B * GH, B, GH, GH);
      if (whole) {
        matmul(dgh_t, w_hh, dh_out, H, T(1), static_cast<const T*>(nullptr), w_hh_packed.data());
      } else {
        own_columns_product(dgh_t, w_mine, u.count(), dh_mine);
        scatter_columns(dh_mine, B, u0, 0, u.count(), 1, true, static_cast<const T*>(nullptr), dh_out, H);
      }
      std::swap(dh_in, dh_out);
      std::swap(dc_in, dc_out);
    }
    if (!whole_products) return;
    // Every gate gradient is in: the threads met after the last step's gate
    // pass (s = 0). Each product goes whole to the least loaded thread,
    // largest first; it is the product a single thread computes, so the
    // bytes do not change.
    std::vector<int64_t> load(nt, 0);
    for (const Task& task : tasks) {
      const auto least = std::min_element(load.begin(), load.end());
      *least += task.work;
      if (least - load.begin() == tid) task.run();
    }
  });
  if (!whole_products)
    for (const Task& task : tasks) task.run();
  // S swaps: the gradients reaching the initial state are in dh_prev when S is odd.
  if (S % 2) {
    std::swap(dh, dh_prev);
    std::swap(dc, dc_prev);
  }
  std::copy(dh, dh + B * H, p.dh0);
  if (lstm) std::copy(dc, dc + B * H, p.dc0);
}

template void rnn_layer_forward<float>(const RnnLayerForward<float>&);
template void rnn_layer_forward<double>(const RnnLayerForward<double>&);
template void rnn_layer_backward<float>(const RnnLayerBackward<float>&);
template void rnn_layer_backward<double>(const RnnLayerBackward<double>&);

}  // namespace pyengine
