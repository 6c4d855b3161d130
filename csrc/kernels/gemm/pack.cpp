#include "kernels/gemm/pack.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace pyengine {
namespace {

#if defined(__SSE2__)
// Six float rows of A, each contiguous along k, into a 6-row panel: four
// steps of k at a time go through one 4 x 4 register transpose (rows 0-3)
// and one interleave (rows 4-5), so every element is loaded and stored as
// part of a vector. Element by element, the panel's stride-6 stores would
// cost a cycle or more per element of A. SSE2 is in every x86-64 CPU, so
// this needs no per-ISA build. Returns the steps of k done.
int64_t pack_rows6_along_k(int64_t k, const float* src, int64_t rs, float* dst) {
  int64_t p = 0;
  for (; p + 4 <= k; p += 4) {
    __m128 r0 = _mm_loadu_ps(src + p), r1 = _mm_loadu_ps(src + rs + p);
    __m128 r2 = _mm_loadu_ps(src + 2 * rs + p), r3 = _mm_loadu_ps(src + 3 * rs + p);
    const __m128 r4 = _mm_loadu_ps(src + 4 * rs + p), r5 = _mm_loadu_ps(src + 5 * rs + p);
    _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
    const __m128 lo = _mm_unpacklo_ps(r4, r5), hi = _mm_unpackhi_ps(r4, r5);
    float* d = dst + p * 6;
    _mm_storeu_ps(d, r0);
    _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), lo);
    _mm_storeu_ps(d + 6, r1);
    _mm_storeh_pi(reinterpret_cast<__m64*>(d + 10), lo);
    _mm_storeu_ps(d + 12, r2);
    _mm_storel_pi(reinterpret_cast<__m64*>(d + 16), hi);
    _mm_storeu_ps(d + 18, r3);
    _mm_storeh_pi(reinterpret_cast<__m64*>(d + 22), hi);
  }
  return p;
}

// w (a multiple of 4) float lines, each contiguous along k, into a panel of
// `width` columns: 4 lines x 4 steps of k at a time through one 4 x 4 register
// transpose, so each element moves inside a vector. This is B given
// transposed (a Linear layer's weight, the unfolded input of a weight
// gradient), where one scalar store per element cost more than the copy.
// Returns the steps of k done.
int64_t pack_lines_along_k(int64_t k, int w, int width, const float* src, int64_t along_w, float* dst) {
  const int64_t k4 = k / 4 * 4;
  for (int j = 0; j + 4 <= w; j += 4) {
    const float* s = src + j * along_w;
    for (int64_t p = 0; p < k4; p += 4) {
      __m128 r0 = _mm_loadu_ps(s + p), r1 = _mm_loadu_ps(s + along_w + p);
      __m128 r2 = _mm_loadu_ps(s + 2 * along_w + p), r3 = _mm_loadu_ps(s + 3 * along_w + p);
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      float* d = dst + p * width + j;
      _mm_storeu_ps(d, r0);
      _mm_storeu_ps(d + width, r1);
      _mm_storeu_ps(d + 2 * width, r2);
      _mm_storeu_ps(d + 3 * width, r3);
    }
  }
  return k4;
}
#endif

// W (the panel width) is a compile-time constant for the register tiles in
// use, so the inner loop becomes straight-line copies; the layouts that
// matter get their own loop order, the rest a strided one.
template <int W, typename T>
void pack_panel(int64_t k, int w, const T* src, int64_t along_w, int64_t along_k, T* dst) {
  if (w == W && along_w == 1) {
    // Rows of the panel are contiguous in the source: copy W at a time. A
    // fixed-size memcpy compiles to whole-vector moves with no aliasing
    // checks between src and dst.
    for (int64_t p = 0; p < k; ++p) std::memcpy(dst + p * W, src + p * along_k, W * sizeof(T));
    return;
  }
#if defined(__SSE2__)
  if constexpr (W == 6 && sizeof(T) == 4) {
    if (w == W && along_k == 1) {
      const int64_t done = pack_rows6_along_k(k, src, along_w, dst);
      for (int64_t p = done; p < k; ++p)
        for (int j = 0; j < W; ++j) dst[p * W + j] = src[j * along_w + p];
      return;
    }
  }
#endif
  if (along_k == 1) {
    // Each of the w source lines is contiguous along k: stream them one by
    // one, after the vector transposes where they apply.
    int64_t done = 0;  // steps of k done for the lines below w4
    int w4 = 0;
#if defined(__SSE2__)
    if constexpr (sizeof(T) == 4 && W % 4 == 0) {
      w4 = w / 4 * 4;
      done = pack_lines_along_k(k, w4, W, src, along_w, dst);
    }
#endif
    for (int j = 0; j < w; ++j) {
      const T* s = src + j * along_w;
      for (int64_t p = j < w4 ? done : 0; p < k; ++p) dst[p * W + j] = s[p];
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

// Whole W-wide panels from lines that run across them: the rows of a
// row-major B, or the columns of a column-major A (a weight gradient's dY^T).
// A few lines at a time across all the panels, so each line is read in
// address order, which the hardware prefetcher streams. Panel by panel, every
// step of k would jump a whole line (16 KiB for a B of 4096 columns; 4 KiB for
// dY^T of 1024 gates, all of a panel's lines in one L1 set): a new page and a
// demand miss per 64 bytes, each line loaded again for the next panel.
template <int W, typename T>
void pack_lines_across_panels(int64_t k, int64_t panels, const T* src, int64_t along_k, T* dst) {
  constexpr int64_t kLines = 8;
  for (int64_t p0 = 0; p0 < k; p0 += kLines) {
    const int64_t p1 = std::min(k, p0 + kLines);
    for (int64_t q = 0; q < panels; ++q)
      for (int64_t p = p0; p < p1; ++p) std::memcpy(dst + (q * k + p) * W, src + p * along_k + q * W, W * sizeof(T));
  }
}

// The width-wide panels of a k x n block, one after another (panel q at
// dst + q * width * k); element (j, p) at src[j * along_w + p * along_k].
template <typename T>
void pack_panels(int64_t k, int64_t n, int width, const T* src, int64_t along_w, int64_t along_k, T* dst) {
  int64_t done = 0;  // positions along w packed line by line
  if (along_w == 1) {
    const int64_t full = n / width;
    switch (width) {  // the tables' MR 6 and 4, NR 16, 8 and 4
      case 4: pack_lines_across_panels<4>(k, full, src, along_k, dst), done = full * width; break;
      case 6: pack_lines_across_panels<6>(k, full, src, along_k, dst), done = full * width; break;
      case 8: pack_lines_across_panels<8>(k, full, src, along_k, dst), done = full * width; break;
      case 16: pack_lines_across_panels<16>(k, full, src, along_k, dst), done = full * width; break;
    }
  }
  for (int64_t j = done; j < n; j += width)
    pack_panel_any(k, static_cast<int>(std::min<int64_t>(width, n - j)), width, src + j * along_w, along_w, along_k,
                   dst + j * k);
}

}  // namespace

template <typename T>
void pack_b_panels(int64_t k, int64_t n, int nr, const T* b, int64_t rs, int64_t cs, T* dst) {
  pack_panels(k, n, nr, b, cs, rs, dst);
}

template <typename T>
void pack_a_block(int64_t k, int64_t m, int mr, const T* a, int64_t rs, int64_t cs, T* dst) {
  pack_panels(k, m, mr, a, rs, cs, dst);
}

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
template void pack_a_block<float>(int64_t, int64_t, int, const float*, int64_t, int64_t, float*);
template void pack_a_block<double>(int64_t, int64_t, int, const double*, int64_t, int64_t, double*);
template void pack_b_panel<float>(int64_t, int, int, const float*, int64_t, int64_t, float*);
template void pack_b_panel<double>(int64_t, int, int, const double*, int64_t, int64_t, double*);
template void pack_b_panels<float>(int64_t, int64_t, int, const float*, int64_t, int64_t, float*);
template void pack_b_panels<double>(int64_t, int64_t, int, const double*, int64_t, int64_t, double*);

}  // namespace pyengine
