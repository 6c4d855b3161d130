// Batch normalisation, fused: one pass for the mean, one for the variance and
// one that writes y = x * a + b with a = weight * invstd and b = bias - mean * a
// folded per channel. Channels are split over threads; each channel's passes
// are the ISA's kernels (batch_norm_rows.cpp), whose sums run plane by plane
// in image order, so results do not depend on the thread count.
#include <cmath>

#include "core/parallel.h"
#include "kernels/conv/conv.h"

namespace pyengine {

template <typename T>
void batch_norm_forward(const BatchNormShape& g, const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, bool training, double momentum, double eps, T* y, T* save_mean,
                        T* save_invstd) {
  const BatchNormRowKernels<T>& rows = batch_norm_row_kernels().get<T>();
  const double count = static_cast<double>(g.n * g.s);
  parallel_for(0, g.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const BatchNormChannel<T> xc{x + c * g.s, g.n, g.c * g.s, g.s};
      double mean, invstd;
      if (training) {
        mean = rows.sum(xc) / count;
        // Two passes: no cancellation when |mean| >> std.
        const double var = rows.centered_squares(xc, mean) / count;
        invstd = 1.0 / std::sqrt(var + eps);
        if (running_mean) {
          const double unbiased = count > 1 ? var * count / (count - 1) : var;
          running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * mean);
          running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
        }
      } else {
        mean = running_mean[c];
        invstd = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
      }
      save_mean[c] = static_cast<T>(mean);
      save_invstd[c] = static_cast<T>(invstd);
      const double a = (weight ? weight[c] : 1.0) * invstd;
      const double b = (bias ? bias[c] : 0.0) - mean * a;
      rows.affine(xc, a, b, y + c * g.s);
    }
  });
}

template <typename T>
void batch_norm_backward(const BatchNormShape& g, const T* dy, const T* x, const T* weight, const T* save_mean,
                         const T* save_invstd, bool training, T* dx, T* dweight, T* dbias) {
  const BatchNormRowKernels<T>& rows = batch_norm_row_kernels().get<T>();
  const double count = static_cast<double>(g.n * g.s);
  parallel_for(0, g.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const BatchNormChannel<T> xc{x + c * g.s, g.n, g.c * g.s, g.s};
      const double mean = save_mean[c], invstd = save_invstd[c];
      const double sum_dy = rows.sum({dy + c * g.s, g.n, g.c * g.s, g.s});
      const double sum_dy_xc = rows.centered_dot(xc, dy + c * g.s, mean);  // sum dy * (x - mean)
      if (dweight) dweight[c] = static_cast<T>(sum_dy_xc * invstd);
      if (dbias) dbias[c] = static_cast<T>(sum_dy);
      if (!dx) continue;
      // training: dx = w*invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval: dx = w*invstd * dy
      const double scale = (weight ? weight[c] : 1.0) * invstd;
      const double dy_mean = training && count > 0 ? sum_dy / count : 0.0;
      const double xc_coef = training && count > 0 ? sum_dy_xc * invstd * invstd / count : 0.0;
      rows.input_grad(xc, dy + c * g.s, scale, dy_mean, mean, xc_coef, dx + c * g.s);
    }
  });
}

template void batch_norm_forward<float>(const BatchNormShape&, const float*, const float*, const float*, float*,
                                        float*, bool, double, double, float*, float*, float*);
template void batch_norm_forward<double>(const BatchNormShape&, const double*, const double*, const double*, double*,
                                         double*, bool, double, double, double*, double*, double*);
template void batch_norm_backward<float>(const BatchNormShape&, const float*, const float*, const float*,
                                         const float*, const float*, bool, float*, float*, float*);
template void batch_norm_backward<double>(const BatchNormShape&, const double*, const double*, const double*,
                                          const double*, const double*, bool, double*, double*, double*);

}  // namespace pyengine
