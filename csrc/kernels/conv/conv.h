// Convolution, pooling and batch normalisation on NCHW arrays.
//
// A convolution is a matrix product on unfolded input (im2col):
//
//   cols[(c*R + r)*S + s, oh*Wout + ow] = x[c, oh*sh + r*dh - pad_top, ow*sw + s*dw - pad_left]   (0 outside)
//   y_g  (K/G, P)     = W_g (K/G, C/G*R*S) @ cols_g (C/G*R*S, P) + bias_g      P = Hout*Wout
//   dcols_g           = W_g^T @ dy_g,      dx = col2im(dcols)  (the adjoint of im2col)
//   dW_g             += dy_g @ cols_g^T    summed over the batch in a fixed order
//
// Every array is C-contiguous; the bindings check shapes, kernels never do.
// Padding is given per side, so a causal 1-D convolution (left padding only)
// is the same kernel as a symmetric one.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "core/dispatch.h"
#include "core/parallel.h"

namespace pyengine {

// Scratch for the unfolded columns of the forward and input-gradient passes
// that write them (strided and grouped layers) stays under this many bytes
// whatever the batch: the batch (or, for one huge image, its output rows) is
// processed in chunks. The weight gradient unfolds a few hundred positions
// per thread at a time instead. 4 MiB by default; settable so tests can force
// the chunked paths on small shapes.
std::size_t conv_scratch_budget();
void set_conv_scratch_budget(std::size_t bytes);

struct Conv2dShape {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input (N, C, H, W)
  int64_t k = 0, r = 0, s = 0;         // weight (K, C/groups, R, S)
  int64_t groups = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dil_h = 1, dil_w = 1;
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  int64_t out_h = 0, out_w = 0;  // set by with_output_size()

  int64_t cg() const { return c / groups; }
  int64_t kg() const { return k / groups; }
  int64_t taps() const { return r * s; }
  int64_t out_plane() const { return out_h * out_w; }
  // Extent of the dilated kernel and of the padded input, per axis.
  int64_t span_h() const { return dil_h * (r - 1) + 1; }
  int64_t span_w() const { return dil_w * (s - 1) + 1; }
  int64_t padded_h() const { return h + pad_top + pad_bottom; }
  int64_t padded_w() const { return w + pad_left + pad_right; }
  Conv2dShape with_output_size() const {
    Conv2dShape g = *this;
    g.out_h = (padded_h() - span_h()) / stride_h + 1;
    g.out_w = (padded_w() - span_w()) / stride_w + 1;
    return g;
  }
};

// ---- unfolding (im2col.cpp, col2im.cpp) ------------------------------------
// The outputs o in [lo, hi) of [0, out) whose input index o*stride + offset
// falls inside [0, extent): the unpadded stretch of one row of a window.
struct IndexRange {
  int64_t lo, hi;
};
inline IndexRange valid_outputs(int64_t offset, int64_t stride, int64_t extent, int64_t out) {
  auto first_at_least = [&](int64_t bound) {  // smallest o >= 0 with o*stride + offset >= bound
    const int64_t t = bound - offset;
    return t <= 0 ? int64_t(0) : (t + stride - 1) / stride;
  };
  const int64_t lo = std::min(first_at_least(0), out);
  const int64_t hi = std::max(lo, std::min(first_at_least(extent), out));
  return {lo, hi};
}

// Output rows [oh0, oh1), columns [ow0, ow1) of each, of one image x
// (channels, H, W) into cols: the rows tap = (channel * R + r) * S + s for tap
// in [tap0, tap1), (oh1 - oh0) * (ow1 - ow0) columns each, ld elements apart.
template <typename T>
void im2col(const T* x, const Conv2dShape& g, int64_t tap0, int64_t tap1, int64_t oh0, int64_t oh1, int64_t ow0,
            int64_t ow1, T* cols, int64_t ld);
// The adjoint: adds cols (same layout) into dx (channels, H, W).
template <typename T>
void col2im_add(const T* cols, int64_t ld, int64_t channels, const Conv2dShape& g, int64_t oh0, int64_t oh1, T* dx);

// ---- convolution drivers (conv2d.cpp) ------------------------------------------
// y (N, K, Hout, Wout) = conv(x, w) + bias; bias may be null.
template <typename T>
void conv2d_forward(const Conv2dShape& g, const T* x, const T* w, const T* bias, T* y);
// dx (N, C, H, W) from dy (N, K, Hout, Wout).
template <typename T>
void conv2d_backward_input(const Conv2dShape& g, const T* dy, const T* w, T* dx);
// dw (K, C/G, R, S) from x and dy; bit-identical for any thread count.
template <typename T>
void conv2d_backward_weight(const Conv2dShape& g, const T* x, const T* dy, T* dw);
// db (K) = dy summed over N, Hout, Wout.
template <typename T>
void conv2d_backward_bias(const Conv2dShape& g, const T* dy, T* db);

// ---- direct kernels, compiled per ISA (direct.cpp) --------------------------------
// For layers where im2col is weak: depthwise (C/G == 1) and first layers
// (few input channels). They read a zero-padded input of the group's planes,
// xp (cg, Hp, Wp) with Hp = H + pad_top + pad_bottom, Wp likewise.
template <typename T>
struct DirectConvKernels {
  // Output channels [k0, k1) of one image, all in one group whose planes xp
  // holds: y[k] = bias[k] + sum_{c, r, s} w[k, c, r, s] * xp[c, oh*sh + r*dh, ow*sw + s*dw].
  // w is the whole weight, bias the whole bias (or null), y the image's K planes.
  void (*forward)(const Conv2dShape& g, const T* xp, const T* w, const T* bias, int64_t k0, int64_t k1, T* y);
  // dw[k, c, r, s] += sum_{oh, ow} dy[k, oh, ow] * xp[c, oh*sh + r*dh, ow*sw + s*dw] for k in [k0, k1)
  // of one image (dy its K planes, dw the whole weight gradient); the sum order is fixed.
  void (*weight_grad)(const Conv2dShape& g, const T* xp, const T* dy, int64_t k0, int64_t k1, T* dw);
  // dxp (Hp, Wp) += w[r, s] * dy[oh, ow] at xp's position (oh*sh + r*dh, ow*sw + s*dw):
  // the input gradient of one plane of a depthwise layer.
  void (*input_grad_plane)(const Conv2dShape& g, const T* dy, const T* w, T* dxp);
};

using DirectConvTable = TypedTable<DirectConvKernels>;
namespace scalar { extern const DirectConvTable direct_conv_table; }
namespace avx2 { extern const DirectConvTable direct_conv_table; }
const DirectConvTable& direct_conv_kernels();

// Plane c of planes (h x w, contiguous) into a zero-bordered copy whose
// planes are `rows` rows of `pitch` values, the plane's top left corner at
// (top, left). The borders are the caller's to zero, once per buffer: no copy
// writes them.
template <typename T>
void copy_padded_plane(const T* planes, int64_t c, int64_t h, int64_t w, int64_t top, int64_t left, int64_t rows,
                       int64_t pitch, T* dst) {
  for (int64_t ih = 0; ih < h; ++ih)
    std::memcpy(dst + (c * rows + ih + top) * pitch + left, planes + (c * h + ih) * w, sizeof(T) * w);
}

// Runs work(tid, n, c) for every chunk c < chunks of every image n < images
// on nt threads. Thread t owns images t, t + nt, ... and claims their chunks
// one at a time; once through them it helps the others, from their last
// images back, claiming from the same per-image counters. On a shared machine
// one core often runs slower than the other, and fixed halves of the batch
// would leave the faster thread idle at the end (~13 % of a C=128 layer's
// time). A thread that keeps a copy of the image it works on makes one extra
// copy per image it helps with.
template <typename F>
void claim_image_chunks(int64_t images, int64_t chunks, int nt, const F& work) {
  std::unique_ptr<std::atomic<int64_t>[]> next_chunk(new std::atomic<int64_t>[images]);
  for (int64_t n = 0; n < images; ++n) next_chunk[n].store(0, std::memory_order_relaxed);
  parallel_run(nt, [&](int tid, int team) {
    const auto work_on = [&](int64_t n) {
      for (int64_t c; (c = next_chunk[n].fetch_add(1, std::memory_order_relaxed)) < chunks;) work(tid, n, c);
    };
    for (int64_t n = tid; n < images; n += team) work_on(n);
    for (int64_t n = images - 1; n >= 0; --n)
      if (n % team != tid) work_on(n);
  });
}

// ---- Winograd F(2x2, 3x3) (winograd.cpp, winograd_tiles.cpp) -------------------
// A 3x3, stride-1, undilated, ungrouped convolution computed 2 x 2 outputs at
// a time from 4 x 4 input tiles (Lavin and Gray's minimal filtering):
//
//   y_tile = A^T [ sum_c (G w_kc G^T) * (B^T d_c B) ] A      (* elementwise, 4 x 4)
//
// 16 products of (K, C) @ (C, tiles), one per position of the 4 x 4, do the
// work of im2col's (K, 9C) @ (9C, 4 x tiles): 2.25 times fewer multiply-adds,
// for the two transforms. Each of the 16 sums is C terms long instead of 9C,
// which on random layers more than makes up for the transforms' roundings
// (docs/convolution.md).
template <typename T>
bool uses_winograd(const Conv2dShape& g);
// y (N, K, Hout, Wout) = conv(x, w) + bias, for a shape uses_winograd accepts.
// Returns false, with y unspecified, when an output came out infinite or NaN:
// the transforms' sums and differences of inputs can overflow, and turn an
// infinite input into NaN where the direct sum gives +-inf, so the caller
// computes such a convolution again as the direct sum.
template <typename T>
bool winograd_forward(const Conv2dShape& g, const T* x, const T* w, const T* bias, T* y);
// dw (K, C, 3, 3) from x and dy by the transpose of the same algorithm:
//   dw_kc = G^T [ sum over tiles (A dY_k A^T) * (B^T d_c B) ] G,
// 16 products (C, tiles) @ (tiles, K) summed over the batch in a fixed order,
// so the bytes do not depend on the thread count. Returns false, with dw
// unspecified, for images too small to earn the transforms back and when a
// gradient came out infinite or NaN: the caller then computes dw unfolded.
template <typename T>
bool winograd_weight_grad(const Conv2dShape& g, const T* x, const T* dy, T* dw);

// A panel: `lanes` consecutive tiles first_tile, first_tile + 1, ... of the
// `tiles` of one image, numbered row by row, tile_cols to a row, read from a
// zero-padded copy (channels, rows, pitch) of the input (tile (ty, tx): rows
// 2ty..2ty+3, columns 2tx..2tx+3 of each plane) or of the output gradient
// (rows 2ty, 2ty+1, columns 2tx, 2tx+1).
struct WinogradPanel {
  int64_t channels, rows, pitch;
  int64_t tiles, tile_cols, first_tile;
  int lanes;
};
template <typename T>
struct WinogradKernels {
  // Whether the transforms run panels of this many tiles (the GEMM's NR).
  bool (*handles_lanes)(int lanes);
  // v[(xi * channels + c) * ld + l] = (B^T d B)[xi / 4][xi % 4] of tile l, channel c.
  void (*input_panel)(const WinogradPanel& p, const T* xp, T* v, int64_t ld);
  // One output channel: m[xi * lanes + l] the products' sums for tile l, y its
  // (out_h, out_w) plane; writes A^T m A + bias where the outputs lie in the
  // plane, and returns false when any of the panel's outputs is infinite or NaN.
  bool (*output_panel)(const WinogradPanel& p, const T* m, T bias, int64_t out_h, int64_t out_w, T* y);
  // The weight gradient's: ydy[(xi * channels + k) * ld + l] = (A dY A^T)[xi / 4][xi % 4]
  // of tile l, output channel k, its 2 x 2 of dY read from a zero-padded copy
  // dyp (channels, rows, pitch); zero for lanes past the image's last tile.
  void (*output_grad_panel)(const WinogradPanel& p, const T* dyp, T* ydy, int64_t ld);
};
using WinogradTable = TypedTable<WinogradKernels>;
namespace scalar { extern const WinogradTable winograd_table; }
namespace avx2 { extern const WinogradTable winograd_table; }
const WinogradTable& winograd_kernels();

// ---- pooling (pool2d.cpp) ------------------------------------------------------
struct Pool2dShape {
  int64_t planes = 0, h = 0, w = 0;  // N*C planes of H x W
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t out_h = 0, out_w = 0;
};
// indices[plane, oh, ow] = ih * W + iw of the window's maximum (the first one
// on ties; a NaN wins, as in PyTorch).
template <typename T>
void max_pool2d_forward(const Pool2dShape& g, const T* x, T* y, int64_t* indices);
// Routes dy to dx through the forward pass's indices, checking each index as
// it reads it: returns how many fall outside their plane (those are skipped,
// and a caller that gets a nonzero count must not use dx).
template <typename T>
int64_t max_pool2d_backward(const Pool2dShape& g, const T* dy, const int64_t* indices, T* dx);
template <typename T>
void avg_pool2d_forward(const Pool2dShape& g, bool count_include_pad, const T* x, T* y);
template <typename T>
void avg_pool2d_backward(const Pool2dShape& g, bool count_include_pad, const T* dy, T* dx);

// Max pooling over whole 2x2 blocks with stride 2 on one plane, portable
// (max_pool_2x2.cpp) and AVX2 (max_pool_2x2_avx2.cpp): the same outputs and
// indices as the generic loop.
template <typename T>
struct MaxPoolKernels {
  void (*plain_2x2_plane)(const Pool2dShape& g, const T* xp, T* yp, int64_t* ip);
};
using MaxPoolTable = TypedTable<MaxPoolKernels>;
namespace scalar { extern const MaxPoolTable max_pool_table; }
namespace avx2 { extern const MaxPoolTable max_pool_table; }
const MaxPoolTable& max_pool_kernels();

// Window i along an axis of `in` cells pooled to `out`: [floor(i*in/out), ceil((i+1)*in/out)).
template <typename T>
void adaptive_avg_pool2d_forward(const Pool2dShape& g, const T* x, T* y);
template <typename T>
void adaptive_avg_pool2d_backward(const Pool2dShape& g, const T* dy, T* dx);

// ---- batch normalisation (batch_norm.cpp) --------------------------------------------
// x viewed as (N, C, S): statistics per channel over N*S values.
struct BatchNormShape {
  int64_t n = 0, c = 0, s = 1;
};
// Training: normalises with the batch statistics, writes save_mean and
// save_invstd = 1/sqrt(var + eps) (biased var) and, when running_mean is
// given, updates running_mean/var in place with momentum (unbiased var).
// Evaluation: normalises with running_mean/var, save_* receive them as used.
// weight and bias may be null (1 and 0).
template <typename T>
void batch_norm_forward(const BatchNormShape& g, const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, bool training, double momentum, double eps, T* y, T* save_mean,
                        T* save_invstd);
// dx (when not null), dweight and dbias (when not null) from dy. In training
// mode the statistics depend on x, so dx has the two extra mean terms.
template <typename T>
void batch_norm_backward(const BatchNormShape& g, const T* dy, const T* x, const T* weight, const T* save_mean,
                         const T* save_invstd, bool training, T* dx, T* dweight, T* dbias);

// The passes over one channel that batch normalisation makes, compiled per ISA
// (batch_norm_rows.cpp). The channel is `planes` runs of s contiguous values,
// `stride` apart (N planes of an (N, C, S) tensor; s = 1 for (N, C)). Sums are
// accumulated in double, each run's in an order fixed by s, the runs added in
// order; the maps compute in double and round once to T.
template <typename T>
struct BatchNormChannel {
  const T* x;
  int64_t planes, stride, s;
};
template <typename T>
struct BatchNormRowKernels {
  double (*sum)(const BatchNormChannel<T>& x);                                     // sum x
  double (*centered_squares)(const BatchNormChannel<T>& x, double mean);           // sum (x - mean)^2
  double (*centered_dot)(const BatchNormChannel<T>& x, const T* dy, double mean);  // sum dy * (x - mean)
  void (*affine)(const BatchNormChannel<T>& x, double a, double b, T* y);          // y = x * a + b
  // dx = scale * (dy - dy_mean - (x - mean) * xc_coef)
  void (*input_grad)(const BatchNormChannel<T>& x, const T* dy, double scale, double dy_mean, double mean,
                     double xc_coef, T* dx);
};
using BatchNormRowTable = TypedTable<BatchNormRowKernels>;
namespace scalar { extern const BatchNormRowTable batch_norm_row_table; }
namespace avx2 { extern const BatchNormRowTable batch_norm_row_table; }
const BatchNormRowTable& batch_norm_row_kernels();

}  // namespace pyengine
