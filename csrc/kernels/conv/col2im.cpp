// col2im: the adjoint of im2col. Each column entry is added back to the input
// pixel it was read from; a pixel shared by overlapping windows receives its
// contributions in the fixed (channel, r, s, oh, ow) order, so the result does
// not depend on how the batch was split over threads.
#include "kernels/conv/conv.h"

namespace pyengine {

template <typename T>
void col2im_add(const T* cols, int64_t ld, int64_t channels, const Conv2dShape& g, int64_t oh0, int64_t oh1, T* dx) {
  const int64_t wo = g.out_w;
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = dx + c * g.h * g.w;
    for (int64_t r = 0; r < g.r; ++r) {
      for (int64_t s = 0; s < g.s; ++s) {
        const T* row = cols + ((c * g.r + r) * g.s + s) * ld;
        const int64_t col_offset = s * g.dil_w - g.pad_left;
        const IndexRange ow = valid_outputs(col_offset, g.stride_w, g.w, wo);
        for (int64_t oh = oh0; oh < oh1; ++oh, row += wo) {
          const int64_t ih = oh * g.stride_h + r * g.dil_h - g.pad_top;
          if (ih < 0 || ih >= g.h) continue;
          T* dst = plane + ih * g.w + col_offset;
          if (g.stride_w == 1) {
            for (int64_t o = ow.lo; o < ow.hi; ++o) dst[o] += row[o];
          } else {
            for (int64_t o = ow.lo; o < ow.hi; ++o) dst[o * g.stride_w] += row[o];
          }
        }
      }
    }
  }
}

template void col2im_add<float>(const float*, int64_t, int64_t, const Conv2dShape&, int64_t, int64_t, float*);
template void col2im_add<double>(const double*, int64_t, int64_t, const Conv2dShape&, int64_t, int64_t, double*);

}  // namespace pyengine
