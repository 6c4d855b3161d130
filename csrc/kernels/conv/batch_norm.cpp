// Batch normalisation, fused: one pass for the mean, one for the variance and
// one that writes y = x * a + b with a = weight * invstd and b = bias - mean * a
// folded per channel. Channels are split over threads and each channel's sums
// run in (n, s) order in double, so results do not depend on the thread count.
#include <cmath>

#include "core/parallel.h"
#include "kernels/conv/conv.h"

namespace pyengine {
namespace {

// Calls fn(value&) for every element of channel c of x viewed as (N, C, S).
template <typename T, typename F>
void for_channel(const BatchNormShape& g, T* x, int64_t c, const F& fn) {
  for (int64_t n = 0; n < g.n; ++n) {
    T* row = x + (n * g.c + c) * g.s;
    for (int64_t i = 0; i < g.s; ++i) fn(row[i]);
  }
}

}  // namespace

template <typename T>
void batch_norm_forward(const BatchNormShape& g, const T* x, const T* weight, const T* bias, T* running_mean,
                        T* running_var, bool training, double momentum, double eps, T* y, T* save_mean,
                        T* save_invstd) {
  const double count = static_cast<double>(g.n * g.s);
  parallel_for(0, g.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double mean, invstd;
      if (training) {
        double sum = 0;
        for_channel(g, x, c, [&](const T& v) { sum += v; });
        mean = sum / count;
        double squares = 0;  // two passes: no cancellation when |mean| >> std
        for_channel(g, x, c, [&](const T& v) { squares += (v - mean) * (v - mean); });
        const double var = squares / count;
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
      for (int64_t n = 0; n < g.n; ++n) {
        const T* xr = x + (n * g.c + c) * g.s;
        T* yr = y + (n * g.c + c) * g.s;
        for (int64_t i = 0; i < g.s; ++i) yr[i] = static_cast<T>(xr[i] * a + b);
      }
    }
  });
}

template <typename T>
void batch_norm_backward(const BatchNormShape& g, const T* dy, const T* x, const T* weight, const T* save_mean,
                         const T* save_invstd, bool training, T* dx, T* dweight, T* dbias) {
  const double count = static_cast<double>(g.n * g.s);
  parallel_for(0, g.c, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const double mean = save_mean[c], invstd = save_invstd[c];
      double sum_dy = 0, sum_dy_xc = 0;  // sum dy, sum dy * (x - mean)
      for (int64_t n = 0; n < g.n; ++n) {
        const T* xr = x + (n * g.c + c) * g.s;
        const T* dr = dy + (n * g.c + c) * g.s;
        for (int64_t i = 0; i < g.s; ++i) {
          sum_dy += dr[i];
          sum_dy_xc += dr[i] * (xr[i] - mean);
        }
      }
      if (dweight) dweight[c] = static_cast<T>(sum_dy_xc * invstd);
      if (dbias) dbias[c] = static_cast<T>(sum_dy);
      if (!dx) continue;
      // training: dx = w*invstd * (dy - mean(dy) - xhat * mean(dy * xhat)); eval: dx = w*invstd * dy
      const double scale = (weight ? weight[c] : 1.0) * invstd;
      const double dy_mean = training && count > 0 ? sum_dy / count : 0.0;
      const double xc_coef = training && count > 0 ? sum_dy_xc * invstd * invstd / count : 0.0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* xr = x + (n * g.c + c) * g.s;
        const T* dr = dy + (n * g.c + c) * g.s;
        T* out = dx + (n * g.c + c) * g.s;
        for (int64_t i = 0; i < g.s; ++i) out[i] = static_cast<T>(scale * (dr[i] - dy_mean - (xr[i] - mean) * xc_coef));
      }
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
