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

// A column-major block (each step of k a contiguous column of m values),
// dealt out to the panels column by column. Panel by panel, every step of k
// would load a line of A (a weight gradient's dY^T, whose columns are
// GH = 1024 floats apart: 4 KiB, so all of a panel's lines fall in one L1 set
// and 16 L2 sets) and each line would come in again for the next panel; in
// column order each line is loaded once, in address order.
template <int MR, typename T>
void pack_columns(int64_t k, int64_t m, const T* a, int64_t cs, T* dst) {
  const int64_t panels = (m + MR - 1) / MR, full = m / MR;
  for (int64_t p = 0; p < k; ++p) {
    const T* col = a + p * cs;
    for (int64_t q = 0; q < full; ++q) std::memcpy(dst + (q * k + p) * MR, col + q * MR, MR * sizeof(T));
    for (int64_t q = full; q < panels; ++q)
      for (int i = 0; i < MR; ++i) dst[(q * k + p) * MR + i] = q * MR + i < m ? col[q * MR + i] : T(0);
  }
}

// Whole W-column panels of B with contiguous rows, a few rows at a time
// across all of them: each source row is read in address order, which the
// hardware prefetcher streams, and each panel gets a few lines in a row.
template <int W, typename T>
void pack_rows_across_panels(int64_t k, int64_t panels, const T* b, int64_t rs, T* dst) {
  constexpr int64_t kRows = 8;
  for (int64_t p0 = 0; p0 < k; p0 += kRows) {
    const int64_t p1 = std::min(k, p0 + kRows);
    for (int64_t q = 0; q < panels; ++q)
      for (int64_t p = p0; p < p1; ++p) std::memcpy(dst + (q * k + p) * W, b + p * rs + q * W, W * sizeof(T));
  }
}

}  // namespace

template <typename T>
void pack_b_panels(int64_t k, int64_t n, int nr, const T* b, int64_t rs, int64_t cs, T* dst) {
  int64_t done = 0;  // columns packed by the row-wise copy
  if (cs == 1 && n >= 2 * nr) {
    const int64_t panels = n / nr;
    switch (nr) {  // the tables' NR: 16 and 8 (AVX2), 8 and 4 (scalar)
      case 4: pack_rows_across_panels<4>(k, panels, b, rs, dst), done = panels * nr; break;
      case 8: pack_rows_across_panels<8>(k, panels, b, rs, dst), done = panels * nr; break;
      case 16: pack_rows_across_panels<16>(k, panels, b, rs, dst), done = panels * nr; break;
    }
  }
  for (int64_t j = done; j < n; j += nr)
    pack_b_panel(k, static_cast<int>(std::min<int64_t>(nr, n - j)), nr, b + j * cs, rs, cs, dst + j * k);
}

template <typename T>
void pack_a_block(int64_t k, int64_t m, int mr, const T* a, int64_t rs, int64_t cs, T* dst) {
  if (rs == 1 && cs != 1) {
    switch (mr) {  // the tables' MR: 6 (AVX2), 4 (scalar)
      case 4: return pack_columns<4>(k, m, a, cs, dst);
      case 6: return pack_columns<6>(k, m, a, cs, dst);
    }
  }
  for (int64_t i = 0; i < m; i += mr)
    pack_a_panel(k, static_cast<int>(std::min<int64_t>(mr, m - i)), mr, a + i * rs, rs, cs, dst + i * k);
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
