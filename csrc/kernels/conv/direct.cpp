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

// KB output channels x V vectors of one output row per step. With KB*V = 8
// accumulators, eight independent FMA chains cover the FMA latency (4 cycles)
// times the two FMA ports; each step loads V input vectors and KB broadcast
// weights for KB*V FMAs, so the loads stay under the two-per-cycle limit.
template <typename T, int KB, int V>
void forward_block_unit_stride(const Conv2dShape& g, const T* xp, const T* w, const T* bias, int64_t k, T* y) {
  constexpr int W = Vec<T>::size;
  constexpr int64_t step = int64_t(V) * W;
  const int64_t hp = g.padded_h(), wp = g.padded_w(), cg = g.cg(), taps = g.taps(), P = g.out_plane();
  const int64_t full = g.out_w / step * step;
  const T* wk = w + k * cg * taps;
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    for (int64_t ow = 0; ow < full; ow += step) {
      Vec<T> acc[KB][V];
      for (int kb = 0; kb < KB; ++kb)
        for (int v = 0; v < V; ++v) acc[kb][v] = Vec<T>::broadcast(bias ? bias[k + kb] : T(0));
      for (int64_t c = 0; c < cg; ++c) {
        for (int64_t r = 0; r < g.r; ++r) {
          const T* xrow = xp + (c * hp + oh * g.stride_h + r * g.dil_h) * wp + ow;
          const T* wrow = wk + (c * g.r + r) * g.s;
          for (int64_t s = 0; s < g.s; ++s) {
            Vec<T> xv[V];
            for (int v = 0; v < V; ++v) xv[v] = Vec<T>::loadu(xrow + s * g.dil_w + v * W);
            for (int kb = 0; kb < KB; ++kb) {
              const Vec<T> wv = Vec<T>::broadcast(wrow[kb * cg * taps + s]);
              for (int v = 0; v < V; ++v) acc[kb][v] = fmadd(wv, xv[v], acc[kb][v]);
            }
          }
        }
      }
      for (int kb = 0; kb < KB; ++kb)
        for (int v = 0; v < V; ++v) acc[kb][v].storeu(y + (k + kb) * P + oh * g.out_w + ow + v * W);
    }
  }
  // The rest of each row, narrower than one step.
  for (int kb = 0; kb < KB; ++kb) forward_scalar(g, xp, w, bias, k + kb, full, y);
}

template <typename T>
void forward(const Conv2dShape& g, const T* xp, const T* w, const T* bias, int64_t k0, int64_t k1, T* y) {
  if (g.stride_w != 1) {
    for (int64_t k = k0; k < k1; ++k) forward_scalar(g, xp, w, bias, k, 0, y);
    return;
  }
  int64_t k = k0;
  for (; k + 4 <= k1; k += 4) forward_block_unit_stride<T, 4, 2>(g, xp, w, bias, k, y);
  switch (k1 - k) {
    case 3: forward_block_unit_stride<T, 3, 2>(g, xp, w, bias, k, y); break;
    case 2: forward_block_unit_stride<T, 2, 3>(g, xp, w, bias, k, y); break;
    case 1: forward_block_unit_stride<T, 1, 4>(g, xp, w, bias, k, y); break;
    default: break;
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

// TB taps at once: each step loads one dy vector and TB shifted input vectors
// for TB FMAs, so one dy load is shared TB ways; TB = 8 accumulators keep both
// FMA ports busy across the FMA latency. Lanes hold partial sums over
// positions ow = lane (mod W); they are reduced once per image.
template <typename T, int TB>
void weight_grad_taps_unit_stride(const Conv2dShape& g, const T* xp, const T* dyk, int64_t t0, T* dwk) {
  constexpr int W = Vec<T>::size;
  const int64_t hp = g.padded_h(), wp = g.padded_w();
  const int64_t full = g.out_w / W * W;
  int64_t offset[TB];
  for (int t = 0; t < TB; ++t) {
    const int64_t tap = t0 + t;
    const int64_t c = tap / g.taps(), r = tap / g.s % g.r, s = tap % g.s;
    offset[t] = (c * hp + r * g.dil_h) * wp + s * g.dil_w;
  }
  Vec<T> acc[TB];
  T tail[TB];
  for (int t = 0; t < TB; ++t) {
    acc[t] = Vec<T>::zero();
    tail[t] = T(0);
  }
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const T* dyrow = dyk + oh * g.out_w;
    const T* xrow = xp + oh * g.stride_h * wp;
    for (int64_t ow = 0; ow < full; ow += W) {
      const Vec<T> d = Vec<T>::loadu(dyrow + ow);
      for (int t = 0; t < TB; ++t) acc[t] = fmadd(d, Vec<T>::loadu(xrow + offset[t] + ow), acc[t]);
    }
    for (int64_t ow = full; ow < g.out_w; ++ow)
      for (int t = 0; t < TB; ++t) tail[t] += dyrow[ow] * xrow[offset[t] + ow];
  }
  for (int t = 0; t < TB; ++t) dwk[t0 + t] += acc[t].reduce_add() + tail[t];
}

template <typename T>
void weight_grad(const Conv2dShape& g, const T* xp, const T* dy, int64_t k0, int64_t k1, T* dw) {
  const int64_t ntaps = g.cg() * g.taps();
  for (int64_t k = k0; k < k1; ++k) {
    const T* dyk = dy + k * g.out_plane();
    T* dwk = dw + k * ntaps;
    if (g.stride_w != 1) {
      weight_grad_scalar(g, xp, dyk, 0, ntaps, dwk);
      continue;
    }
    int64_t t = 0;
    for (; t + 8 <= ntaps; t += 8) weight_grad_taps_unit_stride<T, 8>(g, xp, dyk, t, dwk);
    if (t + 4 <= ntaps) {
      weight_grad_taps_unit_stride<T, 4>(g, xp, dyk, t, dwk);
      t += 4;
    }
    if (t + 2 <= ntaps) {
      weight_grad_taps_unit_stride<T, 2>(g, xp, dyk, t, dwk);
      t += 2;
    }
    if (t < ntaps) weight_grad_taps_unit_stride<T, 1>(g, xp, dyk, t, dwk);
  }
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
