#include "kernels/gemm/pack.h"

namespace pyengine {
namespace {

// W (the panel width) is a compile-time constant for the register tiles in
// use, so the inner loop becomes straight-line copies; the layouts that
// matter get their own loop order, the rest a strided one.
template <int W, typename T>
void pack_panel(int64_t k, int w, const T* src, int64_t along_w, int64_t along_k, T* dst) {
  if (w == W && along_w == 1) {
    // Rows of the panel are contiguous in the source: copy W at a time.
    for (int64_t p = 0; p < k; ++p) {
      const T* s = src + p * along_k;
      for (int j = 0; j < W; ++j) dst[p * W + j] = s[j];
    }
    return;
  }
  if (along_k == 1) {
    // Each of the w source lines is contiguous along k: stream them one by one.
    for (int j = 0; j < w; ++j) {
      const T* s = src + j * along_w;
      for (int64_t p = 0; p < k; ++p) dst[p * W + j] = s[p];
    }
  } else {
    for (int64_t p = 0; p < k; ++p)
      for (int j = 0; j < w; ++j) dst[p * W + j] = src[j * along_w + p * along_k];
  }
  for (int64_t p = 0; p < k; ++p)
    for (int j = w; j < W; ++j) dst[p * W + j] = T(0);
}

template <typename T>
void pack_panel_any(int64_t k, int w, int width, const T* src, int64_t along_w, int64_t along_k, T* dst) {
  switch (width) {
    case 4: return pack_panel<4>(k, w, src, along_w, along_k, dst);
    case 6: return pack_panel<6>(k, w, src, along_w, along_k, dst);
    case 8: return pack_panel<8>(k, w, src, along_w, along_k, dst);
    case 16: return pack_panel<16>(k, w, src, along_w, along_k, dst);
  }
  // Widths without a specialisation (none in the current tables).
  for (int64_t p = 0; p < k; ++p)
    for (int j = 0; j < width; ++j) dst[p * width + j] = j < w ? src[j * along_w + p * along_k] : T(0);
}

}  // namespace

template <typename T>
void pack_a_panel(int64_t k, int m, int mr, const T* a, int64_t rs, int64_t cs, T* dst) {
  pack_panel_any(k, m, mr, a, rs, cs, dst);
}

template <typename T>
void pack_b_panel(int64_t k, int n, int nr, const T* b, int64_t rs, int64_t cs, T* dst) {
  pack_panel_any(k, n, nr, b, cs, rs, dst);
}

template void pack_a_panel<float>(int64_t, int, int, const float*, int64_t, int64_t, float*);
template void pack_a_panel<double>(int64_t, int, int, const double*, int64_t, int64_t, double*);
template void pack_b_panel<float>(int64_t, int, int, const float*, int64_t, int64_t, float*);
template void pack_b_panel<double>(int64_t, int, int, const double*, int64_t, int64_t, double*);

}  // namespace pyengine
