// im2col: one image's receptive fields laid out as the columns of a matrix,
// so that a convolution becomes one GEMM. Zero padding is written here rather
// than tested inside the GEMM, which keeps the micro-kernel branch-free.
#include <algorithm>

#include "kernels/conv/conv.h"

namespace pyengine {

namespace {

// Row r, column offset col_offset of the unfolded input for output rows
// [oh0, oh1), when input and output rows have the same pitch (unit strides,
// out_w == w: "same" padding): the valid rows are then one shifted block of
// the plane, copied in one pass; the columns that wrapped into a neighbouring
// row, and the rows above and below the image, are zeroed after.
template <typename T>
void copy_shifted_rows(const T* plane, const Conv2dShape& g, int64_t r, int64_t col_offset, IndexRange ow,
                       int64_t oh0, int64_t oh1, T* row) {
  const int64_t wo = g.out_w, ih_shift = r * g.dil_h - g.pad_top;  // ih = oh + ih_shift
  const int64_t first = std::clamp<int64_t>(-ih_shift, oh0, oh1);
  const int64_t last = std::clamp<int64_t>(g.h - ih_shift, first, oh1);
  std::fill(row, row + (first - oh0) * wo, T(0));
  std::fill(row + (last - oh0) * wo, row + (oh1 - oh0) * wo, T(0));
  if (first == last) return;
  if (ow.lo < ow.hi) {
    const T* src = plane + (first + ih_shift) * g.w + col_offset + ow.lo;
    std::copy(src, src + (last - first - 1) * wo + (ow.hi - ow.lo), row + (first - oh0) * wo + ow.lo);
  }
  // The wrapped columns: at most the padding's width per row.
  for (int64_t oh = first; oh < last; ++oh) {
    T* out = row + (oh - oh0) * wo;
    for (int64_t o = 0; o < ow.lo; ++o) out[o] = T(0);
    for (int64_t o = ow.hi; o < wo; ++o) out[o] = T(0);
  }
}

}  // namespace

template <typename T>
void im2col(const T* x, const Conv2dShape& g, int64_t tap0, int64_t tap1, int64_t oh0, int64_t oh1, int64_t ow0,
            int64_t ow1, T* cols, int64_t ld) {
  const int64_t wo = ow1 - ow0;  // values per output row
  const bool contiguous_rows = g.stride_w == 1 && g.stride_h == 1 && g.out_w == g.w && wo == g.out_w;
  for (int64_t tap = tap0; tap < tap1; ++tap) {
    const int64_t c = tap / g.taps(), r = tap / g.s % g.r, s = tap % g.s;
    const T* plane = x + c * g.h * g.w;
    T* row = cols + (tap - tap0) * ld;
    const int64_t col_offset = s * g.dil_w - g.pad_left;  // iw = ow*sw + col_offset
    const IndexRange valid = valid_outputs(col_offset, g.stride_w, g.w, g.out_w);
    if (contiguous_rows) {
      copy_shifted_rows(plane, g, r, col_offset, valid, oh0, oh1, row);
      continue;
    }
    // This window's valid columns, counted from ow0.
    const int64_t lo = std::clamp(valid.lo, ow0, ow1) - ow0, hi = std::clamp(valid.hi, ow0, ow1) - ow0;
    // Plain loops, not memset/memcpy: the rows of a CNN are a few dozen
    // elements, where a libc call costs more than the copy itself.
    for (int64_t oh = oh0; oh < oh1; ++oh, row += wo) {
      const int64_t ih = oh * g.stride_h + r * g.dil_h - g.pad_top;
      if (ih < 0 || ih >= g.h) {
        for (int64_t o = 0; o < wo; ++o) row[o] = T(0);
        continue;
      }
      const T* src = plane + ih * g.w + col_offset + ow0 * g.stride_w;
      for (int64_t o = 0; o < lo; ++o) row[o] = T(0);
      if (g.stride_w == 1) {
        for (int64_t o = lo; o < hi; ++o) row[o] = src[o];
      } else {
        for (int64_t o = lo; o < hi; ++o) row[o] = src[o * g.stride_w];
      }
      for (int64_t o = hi; o < wo; ++o) row[o] = T(0);
    }
  }
}

template void im2col<float>(const float*, const Conv2dShape&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                            float*, int64_t);
template void im2col<double>(const double*, const Conv2dShape&, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                             double*, int64_t);

}  // namespace pyengine
