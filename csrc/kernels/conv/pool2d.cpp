// Max, average and adaptive average pooling on planes of H x W, with their
// backward passes. Each plane belongs to one thread, so the gradients, which
// add overlapping windows into the same input pixel, come out in a fixed order.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/parallel.h"
#include "kernels/conv/conv.h"

namespace pyengine {
namespace {

// Calls fn(plane) for every plane, planes split over threads.
template <typename F>
void for_each_plane(int64_t planes, const F& fn) {
  parallel_for(0, planes, 1, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) fn(p);
  });
}

// The average pooling window of output (oh, ow), PyTorch's rule: the divisor
// counts padding cells but not the cells a ceil_mode window hangs past it.
struct AvgWindow {
  int64_t h0, h1, w0, w1;  // clipped to the input
  int64_t divisor;
};

AvgWindow avg_window(const Pool2dShape& g, bool count_include_pad, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.stride_h - g.pad_h, w0 = ow * g.stride_w - g.pad_w;
  int64_t h1 = std::min(h0 + g.kh, g.h + g.pad_h), w1 = std::min(w0 + g.kw, g.w + g.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.h);
  w1 = std::min(w1, g.w);
  return {h0, h1, w0, w1, count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

// Window i of an adaptive pooling along an axis of `in` cells pooled to `out`.
int64_t adaptive_start(int64_t i, int64_t in, int64_t out) { return i * in / out; }
int64_t adaptive_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// Whether every window is a whole 2x2 block of the input: the layout of nearly
// every CNN, which gets a loop without bounds tests or branches.
bool is_plain_2x2(const Pool2dShape& g) {
  return g.kh == 2 && g.kw == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 && g.pad_w == 0 &&
         g.dil_h == 1 && g.dil_w == 1 && 2 * g.out_h <= g.h && 2 * g.out_w <= g.w;
}

}  // namespace

template <typename T>
void max_pool2d_forward(const Pool2dShape& g, const T* x, T* y, int64_t* indices) {
  const int64_t in_plane = g.h * g.w, out_plane = g.out_h * g.out_w;
  if (is_plain_2x2(g)) {
    const auto plane_kernel = max_pool_kernels().get<T>().plain_2x2_plane;
    for_each_plane(g.planes, [&](int64_t p) {
      plane_kernel(g, x + p * in_plane, y + p * out_plane, indices + p * out_plane);
    });
    return;
  }
  for_each_plane(g.planes, [&](int64_t p) {
    const T* xp = x + p * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t arg = -1;
        for (int64_t i = 0; i < g.kh; ++i) {
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dil_h;
          if (ih < 0 || ih >= g.h) continue;
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t iw = ow * g.stride_w - g.pad_w + j * g.dil_w;
            if (iw < 0 || iw >= g.w) continue;
            const T v = xp[ih * g.w + iw];
            if (arg < 0 || v > best || std::isnan(v)) {
              best = v;
              arg = ih * g.w + iw;
            }
          }
        }
        y[p * out_plane + oh * g.out_w + ow] = best;
        indices[p * out_plane + oh * g.out_w + ow] = arg;
      }
    }
  });
}

template <typename T>
int64_t max_pool2d_backward(const Pool2dShape& g, const T* dy, const int64_t* indices, T* dx) {
  const int64_t in_plane = g.h * g.w, out_plane = g.out_h * g.out_w;
  std::atomic<int64_t> outside{0};
  for_each_plane(g.planes, [&](int64_t p) {
    T* dxp = dx + p * in_plane;
    std::memset(dxp, 0, sizeof(T) * in_plane);
    int64_t bad = 0;
    for (int64_t o = 0; o < out_plane; ++o) {
      const int64_t at = indices[p * out_plane + o];
      const bool inside = static_cast<uint64_t>(at) < static_cast<uint64_t>(in_plane);  // also rejects at < 0
      bad += !inside;
      if (inside) dxp[at] += dy[p * out_plane + o];
    }
    if (bad) outside.fetch_add(bad, std::memory_order_relaxed);
  });
  return outside.load();
}

template <typename T>
void avg_pool2d_forward(const Pool2dShape& g, bool count_include_pad, const T* x, T* y) {
  const int64_t in_plane = g.h * g.w, out_plane = g.out_h * g.out_w;
  for_each_plane(g.planes, [&](int64_t p) {
    const T* xp = x + p * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const AvgWindow win = avg_window(g, count_include_pad, oh, ow);
        T sum = 0;
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) sum += xp[ih * g.w + iw];
        y[p * out_plane + oh * g.out_w + ow] = win.divisor > 0 ? sum / static_cast<T>(win.divisor) : T(0);
      }
    }
  });
}

template <typename T>
void avg_pool2d_backward(const Pool2dShape& g, bool count_include_pad, const T* dy, T* dx) {
  const int64_t in_plane = g.h * g.w, out_plane = g.out_h * g.out_w;
  for_each_plane(g.planes, [&](int64_t p) {
    T* dxp = dx + p * in_plane;
    std::memset(dxp, 0, sizeof(T) * in_plane);
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const AvgWindow win = avg_window(g, count_include_pad, oh, ow);
        if (win.divisor <= 0) continue;
        const T share = dy[p * out_plane + oh * g.out_w + ow] / static_cast<T>(win.divisor);
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) dxp[ih * g.w + iw] += share;
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_forward(const Pool2dShape& g, const T* x, T* y) {
  const int64_t in_plane = g.h * g.w, out_plane = g.out_h * g.out_w;
  for_each_plane(g.planes, [&](int64_t p) {
    const T* xp = x + p * in_plane;
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t h0 = adaptive_start(oh, g.h, g.out_h), h1 = adaptive_end(oh, g.h, g.out_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.w, g.out_w), w1 = adaptive_end(ow, g.w, g.out_w);
        T sum = 0;
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) sum += xp[ih * g.w + iw];
        y[p * out_plane + oh * g.out_w + ow] = sum / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <typename T>
void adaptive_avg_pool2d_backward(const Pool2dShape& g, const T* dy, T* dx) {
  const int64_t in_plane = g.h * g.w, out_plane = g.out_h * g.out_w;
  for_each_plane(g.planes, [&](int64_t p) {
    T* dxp = dx + p * in_plane;
    std::memset(dxp, 0, sizeof(T) * in_plane);
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      const int64_t h0 = adaptive_start(oh, g.h, g.out_h), h1 = adaptive_end(oh, g.h, g.out_h);
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.w, g.out_w), w1 = adaptive_end(ow, g.w, g.out_w);
        const T share = dy[p * out_plane + oh * g.out_w + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) dxp[ih * g.w + iw] += share;
      }
    }
  });
}

template void max_pool2d_forward<float>(const Pool2dShape&, const float*, float*, int64_t*);
template void max_pool2d_forward<double>(const Pool2dShape&, const double*, double*, int64_t*);
template int64_t max_pool2d_backward<float>(const Pool2dShape&, const float*, const int64_t*, float*);
template int64_t max_pool2d_backward<double>(const Pool2dShape&, const double*, const int64_t*, double*);
template void avg_pool2d_forward<float>(const Pool2dShape&, bool, const float*, float*);
template void avg_pool2d_forward<double>(const Pool2dShape&, bool, const double*, double*);
template void avg_pool2d_backward<float>(const Pool2dShape&, bool, const float*, float*);
template void avg_pool2d_backward<double>(const Pool2dShape&, bool, const double*, double*);
template void adaptive_avg_pool2d_forward<float>(const Pool2dShape&, const float*, float*);
template void adaptive_avg_pool2d_forward<double>(const Pool2dShape&, const double*, double*);
template void adaptive_avg_pool2d_backward<float>(const Pool2dShape&, const float*, float*);
template void adaptive_avg_pool2d_backward<double>(const Pool2dShape&, const double*, double*);

}  // namespace pyengine
