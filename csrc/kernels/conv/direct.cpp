// Direct convolution kernels, compiled once per ISA: vectorised along the
// output row, for the layers where im2col + GEMM is weak (depthwise layers and
// first layers with 1-4 input channels). They read zero-padded planes, so the
// inner loops have no bounds tests. Rows with a stride other than 1 take the
// scalar loops, which are also the specification of the vector ones.
#include "kernels/conv/conv.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// ---- forward -------------------------------------------------------------------

template <typename T>
void forward_scalar(const Conv2dShape& g, const T* xp, const T* w, const T* bias, int64_t k, int64_t ow0, T* y) {
  const int64_t hp = g.padded_h(), wp = g.padded_w(), cg = g.cg(), taps = g.taps();
  const T* wk = w + k * cg * taps;
  T* yk = y + k * g.out_plane();
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    for (int64_t ow = ow0; ow < g.out_w; ++ow) {
      T acc = bias ? bias[k] : T(0);
      for (int64_t c = 0; c < cg; ++c)
        for (int64_t r = 0; r < g.r; ++r) {
          const T* xrow = xp + (c * hp + oh * g.stride_h + r * g.dil_h) * wp + ow * g.stride_w;
          for (int64_t s = 0; s < g.s; ++s) acc += wk[(c * g.r + r) * g.s + s] * xrow[s * g.dil_w];
        }
      yk[oh * g.out_w + ow] = acc;
    }
  }
}

// One tile of the output: KB channels x RB rows x V vectors, from row oh and
// column ow. With KB*RB*V = 8 to 12 accumulators, that many independent FMA
// chains cover the FMA latency (4 cycles) times the two FMA ports; each
// (c, r, s) step broadcasts KB weights and streams RB*V input vectors past
// them, one at a time, for KB*RB*V FMAs: KB + 1 registers beside the
// accumulators, so three channels fit twelve of them (four only eight).
// Fewer channels take more rows instead, so the chains stay independent.
template <typename T, int KB, int RB, int V, int S>
inline void forward_tile(const Conv2dShape& g, const T* xp, const T* wk, const T* bias, int64_t k, int64_t oh,
                         int64_t ow, T* y) {
  constexpr int W = Vec<T>::size;
  const int64_t hp = g.padded_h(), wp = g.padded_w(), cg = g.cg(), wstride = cg * g.taps();
  const int64_t row_step = g.stride_h * wp;
  Vec<T> acc[KB][RB][V];
  for (int kb = 0; kb < KB; ++kb)
    for (int rb = 0; rb < RB; ++rb)
      for (int v = 0; v < V; ++v) acc[kb][rb][v] = Vec<T>::broadcast(bias ? bias[k + kb] : T(0));
  for (int64_t c = 0; c < cg; ++c) {
    for (int64_t r = 0; r < g.r; ++r) {
      const T* xrow = xp + (c * hp + oh * g.stride_h + r * g.dil_h) * wp + ow;
      const T* wrow = wk + (c * g.r + r) * g.s;
#pragma GCC unroll 8
      for (int64_t s = 0; s < (S > 0 ? S : g.s); ++s) {
        Vec<T> wv[KB];
        for (int kb = 0; kb < KB; ++kb) wv[kb] = Vec<T>::broadcast(wrow[kb * wstride + s]);
        for (int rb = 0; rb < RB; ++rb)
          for (int v = 0; v < V; ++v) {
            const Vec<T> xv = Vec<T>::loadu(xrow + rb * row_step + s * g.dil_w + v * W);
            for (int kb = 0; kb < KB; ++kb) acc[kb][rb][v] = fmadd(wv[kb], xv, acc[kb][rb][v]);
          }
      }
    }
  }
  const int64_t P = g.out_plane();
  for (int kb = 0; kb < KB; ++kb)
    for (int rb = 0; rb < RB; ++rb)
      for (int v = 0; v < V; ++v) acc[kb][rb][v].storeu(y + (k + kb) * P + (oh + rb) * g.out_w + ow + v * W);
}

// RB rows from oh of KB channels from k, unit stride along the row: V-vector
// tiles, then single vectors; a row that is not a whole number of vectors
// ends with one vector tile flush with its end, recomputing a few columns to
// the same values rather than falling back to scalar code.
template <typename T, int KB, int RB, int V, int S>
void forward_rows(const Conv2dShape& g, const T* xp, const T* wk, const T* bias, int64_t k, int64_t oh, T* y) {
  constexpr int W = Vec<T>::size;
  const int64_t wide = g.out_w / (V * W) * (V * W), full = g.out_w / W * W;
  int64_t ow = 0;
  for (; ow < wide; ow += V * W) forward_tile<T, KB, RB, V, S>(g, xp, wk, bias, k, oh, ow, y);
  for (; ow < full; ow += W) forward_tile<T, KB, RB, 1, S>(g, xp, wk, bias, k, oh, ow, y);
  if (full < g.out_w) forward_tile<T, KB, RB, 1, S>(g, xp, wk, bias, k, oh, g.out_w - W, y);
}

template <typename T, int KB, int RB, int V, int S>
void forward_block_unit_stride(const Conv2dShape& g, const T* xp, const T* w, const T* bias, int64_t k, T* y) {
  constexpr int W = Vec<T>::size;
  if (g.out_w < W) {  // rows narrower than one vector
    for (int kb = 0; kb < KB; ++kb) forward_scalar(g, xp, w, bias, k + kb, 0, y);
    return;
  }
  const T* wk = w + k * g.cg() * g.taps();
  int64_t oh = 0;
  for (; oh + RB <= g.out_h; oh += RB) forward_rows<T, KB, RB, V, S>(g, xp, wk, bias, k, oh, y);
  for (; oh < g.out_h; ++oh) forward_rows<T, KB, 1, V, S>(g, xp, wk, bias, k, oh, y);
}

// Channels [k0, k1) at unit stride, S taps per kernel row (0: g.s, read at run time).
template <typename T, int S>
void forward_unit_stride(const Conv2dShape& g, const T* xp, const T* w, const T* bias, int64_t k0, int64_t k1, T* y) {
  int64_t k = k0;
  for (; k + 3 <= k1; k += 3) forward_block_unit_stride<T, 3, 2, 2, S>(g, xp, w, bias, k, y);
  switch (k1 - k) {
    case 2: forward_block_unit_stride<T, 2, 2, 2, S>(g, xp, w, bias, k, y); break;
    case 1: forward_block_unit_stride<T, 1, 4, 2, S>(g, xp, w, bias, k, y); break;
    default: break;
  }
}

// The common kernel widths, 3 and 5, get their own instances: with a
// compile-time trip count the tap loop unrolls into straight FMAs, where a
// three-step loop would spend a compare and branch per three tile updates.
template <typename T>
void forward(const Conv2dShape& g, const T* xp, const T* w, const T* bias, int64_t k0, int64_t k1, T* y) {
  if (g.stride_w != 1) {
    for (int64_t k = k0; k < k1; ++k) forward_scalar(g, xp, w, bias, k, 0, y);
    return;
  }
  switch (g.s) {
    case 3: return forward_unit_stride<T, 3>(g, xp, w, bias, k0, k1, y);
    case 5: return forward_unit_stride<T, 5>(g, xp, w, bias, k0, k1, y);
    default: return forward_unit_stride<T, 0>(g, xp, w, bias, k0, k1, y);
  }
}

// ---- weight gradient -----------------------------------------------------------

// dw entries of one output channel for taps [t0, t1) (tap = (c*R + r)*S + s),
// summed over the image's output rows then positions.
template <typename T>
void weight_grad_scalar(const Conv2dShape& g, const T* xp, const T* dyk, int64_t t0, int64_t t1, T* dwk) {
  const int64_t hp = g.padded_h(), wp = g.padded_w();
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t c = t / g.taps(), r = t / g.s % g.r, s = t % g.s;
    T acc = 0;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const T* xrow = xp + (c * hp + oh * g.stride_h + r * g.dil_h) * wp + s * g.dil_w;
      for (int64_t ow = 0; ow < g.out_w; ++ow) acc += dyk[oh * g.out_w + ow] * xrow[ow * g.stride_w];
    }
    dwk[t] += acc;
  }
}

// KB output channels x TB taps at once: each step loads KB dy vectors and TB
// shifted input vectors for KB*TB FMAs, each load shared by the other side's
// rows; 8 to 12 accumulators keep both FMA ports busy across the FMA latency.
// The smaller side stays in registers while the other streams past it, one
// vector at a time, so twelve accumulators fit beside it.
// Lanes hold partial sums over positions ow = lane (mod W); they are reduced
// once per image. Each accumulator sees the same sequence of FMAs whatever
// KB and TB, so the blocking does not change the results.
template <typename T, int KB, int TB>
void weight_grad_block_unit_stride(const Conv2dShape& g, const T* xp, const T* dy, int64_t k, int64_t t0, T* dw) {
  constexpr int W = Vec<T>::size;
  const int64_t hp = g.padded_h(), wp = g.padded_w(), P = g.out_plane(), ntaps = g.cg() * g.taps();
  const int64_t full = g.out_w / W * W;
  int64_t offset[TB];
  for (int t = 0; t < TB; ++t) {
    const int64_t tap = t0 + t;
    const int64_t c = tap / g.taps(), r = tap / g.s % g.r, s = tap % g.s;
    offset[t] = (c * hp + r * g.dil_h) * wp + s * g.dil_w;
  }
  Vec<T> acc[KB][TB];
  for (int kb = 0; kb < KB; ++kb)
    for (int t = 0; t < TB; ++t) acc[kb][t] = Vec<T>::zero();
  // One step of W positions from ow, its vectors read by `load`.
  const auto step = [&](const T* dyrow, const T* xrow, int64_t ow, const auto& load) {
    if constexpr (KB <= TB) {
      Vec<T> d[KB];
      for (int kb = 0; kb < KB; ++kb) d[kb] = load(dyrow + kb * P + ow);
      for (int t = 0; t < TB; ++t) {
        const Vec<T> xv = load(xrow + offset[t] + ow);
        for (int kb = 0; kb < KB; ++kb) acc[kb][t] = fmadd(d[kb], xv, acc[kb][t]);
      }
    } else {
      Vec<T> xv[TB];
      for (int t = 0; t < TB; ++t) xv[t] = load(xrow + offset[t] + ow);
      for (int kb = 0; kb < KB; ++kb) {
        const Vec<T> d = load(dyrow + kb * P + ow);
        for (int t = 0; t < TB; ++t) acc[kb][t] = fmadd(d, xv[t], acc[kb][t]);
      }
    }
  };
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const T* dyrow = dy + k * P + oh * g.out_w;
    const T* xrow = xp + oh * g.stride_h * wp;
    for (int64_t ow = 0; ow < full; ow += W) step(dyrow, xrow, ow, [](const T* p) { return Vec<T>::loadu(p); });
    if constexpr (W > 1) {
      // The last few positions of a row (28 = 3 x 8 + 4) as one masked step: the
      // masked lanes load zeros (and touch no memory), so they add nothing, where
      // a scalar loop would cost as much as the rest of the row.
      const int rem = static_cast<int>(g.out_w - full);
      if (rem > 0) step(dyrow, xrow, full, [rem](const T* p) { return Vec<T>::load_first(p, rem); });
    }
  }
  for (int kb = 0; kb < KB; ++kb)
    for (int t = 0; t < TB; ++t) dw[(k + kb) * ntaps + t0 + t] += acc[kb][t].reduce_add();
}

// Taps per block for KB channels: 8 or 12 accumulators.
template <int KB>
constexpr int kMaxTaps = KB == 1 ? 8 : 12 / KB;

// Taps [t0, t0 + tb) of KB channels from k, 1 <= tb <= TB: the block
// instance with tb taps.
template <typename T, int KB, int TB = kMaxTaps<KB>>
void weight_grad_taps(const Conv2dShape& g, const T* xp, const T* dy, int64_t k, int64_t t0, int64_t tb, T* dw) {
  if constexpr (TB > 1) {
    if (tb < TB) return weight_grad_taps<T, KB, TB - 1>(g, xp, dy, k, t0, tb, dw);
  }
  weight_grad_block_unit_stride<T, KB, TB>(g, xp, dy, k, t0, dw);
}

// The taps of KB channels from k in blocks of at most kMaxTaps; the last
// most+1 .. 2*most-1 are split into two near-equal blocks, so no block runs
// on a few latency-bound accumulator chains.
template <typename T, int KB>
void weight_grad_channels(const Conv2dShape& g, const T* xp, const T* dy, int64_t k, T* dw) {
  constexpr int64_t most = kMaxTaps<KB>;
  const int64_t ntaps = g.cg() * g.taps();
  int64_t t = 0;
  while (t < ntaps) {
    const int64_t left = ntaps - t;
    const int64_t tb = left <= most ? left : left < 2 * most ? (left + 1) / 2 : most;
    weight_grad_taps<T, KB>(g, xp, dy, k, t, tb, dw);
    t += tb;
  }
}

template <typename T>
void weight_grad(const Conv2dShape& g, const T* xp, const T* dy, int64_t k0, int64_t k1, T* dw) {
  const int64_t ntaps = g.cg() * g.taps();
  if (g.stride_w != 1) {
    for (int64_t k = k0; k < k1; ++k) weight_grad_scalar(g, xp, dy + k * g.out_plane(), 0, ntaps, dw + k * ntaps);
    return;
  }
  // Channels in fours (each input vector feeds four FMAs, each dy vector
  // three), then a pair, then one.
  int64_t k = k0;
  for (; k + 4 <= k1; k += 4) weight_grad_channels<T, 4>(g, xp, dy, k, dw);
  for (; k + 2 <= k1; k += 2) weight_grad_channels<T, 2>(g, xp, dy, k, dw);
  if (k < k1) weight_grad_channels<T, 1>(g, xp, dy, k, dw);
}

// ---- depthwise input gradient ------------------------------------------------------

template <typename T>
void input_grad_plane(const Conv2dShape& g, const T* dy, const T* w, T* dxp) {
  constexpr int W = Vec<T>::size;
  const int64_t wp = g.padded_w();
  const int64_t full = g.stride_w == 1 ? g.out_w / W * W : 0;
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const T* dyrow = dy + oh * g.out_w;
    for (int64_t r = 0; r < g.r; ++r) {
      T* drow = dxp + (oh * g.stride_h + r * g.dil_h) * wp;
      for (int64_t s = 0; s < g.s; ++s) {
        const T wv = w[r * g.s + s];
        T* d = drow + s * g.dil_w;
        const Vec<T> wb = Vec<T>::broadcast(wv);
        for (int64_t ow = 0; ow < full; ow += W)
          fmadd(wb, Vec<T>::loadu(dyrow + ow), Vec<T>::loadu(d + ow)).storeu(d + ow);
        for (int64_t ow = full; ow < g.out_w; ++ow) d[ow * g.stride_w] += wv * dyrow[ow];
      }
    }
  }
}

template <typename T>
constexpr DirectConvKernels<T> make_direct_kernels() {
  return {forward<T>, weight_grad<T>, input_grad_plane<T>};
}

}  // namespace

extern const DirectConvTable direct_conv_table = {make_direct_kernels<float>(), make_direct_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
