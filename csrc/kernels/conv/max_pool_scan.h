// Max pooling over whole 2x2 blocks with stride 2 (the layout of nearly every
// CNN): the one-output window scan that defines the result (the same maximum
// and index as the generic loop of pool2d.cpp, ties and NaNs included), and
// the row loop shared by the portable kernel (max_pool_2x2.cpp) and the AVX2
// one (max_pool_2x2_avx2.cpp), which handles blocks of outputs at once and
// leaves the rest of each row to the scan.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/conv/conv.h"

namespace pyengine {

// One step of the window scan for NaN-free values, written as a max and an
// integer select so that it compiles to maxss/cmov: on random data `v > best`
// is a coin toss that a branch predictor loses half the time. `std::max(best,
// v)` keeps the earlier value on ties, as the generic scan does.
template <typename T>
inline void keep_max(T v, int64_t at, T& best, int64_t& arg) {
  const int64_t take = v > best;
  best = std::max(best, v);
  arg += take * (at - arg);
}

// The generic rule for a window holding a NaN: the last NaN in scan order wins.
template <typename T>
inline void keep_last_nan(T v, int64_t at, T& best, int64_t& arg) {
  if (v != v) {
    best = v;
    arg = at;
  }
}

// Output ow of a row whose window rows start at r0 and r1 (= r0 + w), the
// first at flat position `top`: the window scanned in the generic loop's order.
template <typename T>
inline void max_2x2(const T* r0, const T* r1, int64_t top, int64_t w, int64_t ow, T* y, int64_t* arg_out) {
  const int64_t c = 2 * ow;
  const T v00 = r0[c], v01 = r0[c + 1], v10 = r1[c], v11 = r1[c + 1];
  T best = v00;
  int64_t arg = top + c;
  keep_max(v01, top + c + 1, best, arg);
  keep_max(v10, top + w + c, best, arg);
  keep_max(v11, top + w + c + 1, best, arg);
  // A NaN compares false everywhere above, so it is settled here; the test
  // is almost never true and costs a well-predicted branch.
  if (best != best || v01 != v01 || v10 != v10 || v11 != v11) {
    keep_last_nan(v00, top + c, best, arg);
    keep_last_nan(v01, top + c + 1, best, arg);
    keep_last_nan(v10, top + w + c, best, arg);
    keep_last_nan(v11, top + w + c + 1, best, arg);
  }
  y[ow] = best;
  arg_out[ow] = arg;
}

// One plane: block(r0, r1, top, w, ow, left, yrow, irow) computes outputs
// from ow of a row (of which `left` remain) and returns how many (0: none);
// the scan does the rest.
template <typename T, typename Block>
void max_pool_2x2_plane(const Pool2dShape& g, const T* xp, T* yp, int64_t* ip, const Block& block) {
  for (int64_t oh = 0; oh < g.out_h; ++oh) {
    const int64_t top = 2 * oh * g.w;
    const T* r0 = xp + top;
    const T* r1 = r0 + g.w;
    T* yrow = yp + oh * g.out_w;
    int64_t* irow = ip + oh * g.out_w;
    int64_t ow = 0;
    for (int64_t done; ow < g.out_w && (done = block(r0, r1, top, g.w, ow, g.out_w - ow, yrow, irow)) > 0;)
      ow += done;
    for (; ow < g.out_w; ++ow) max_2x2(r0, r1, top, g.w, ow, yrow, irow);
  }
}

}  // namespace pyengine
