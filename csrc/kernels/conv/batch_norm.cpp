// Batch normalisation, fused: one pass for the mean, one for the variance and
// one that writes y = x * a + b with a = weight * invstd and b = bias - mean * a
// folded per channel. Channels are split over threads and each channel's sums
// run in (n, s) order in double, so results do not depend on the thread count.
#include <cmath>

#include "core/parallel.h"
#include "kernels/conv/conv.h"

namespace pyengine {
namespace {

// Channel sums run in kLanes interleaved partial sums that are added in a fixed
// order at the end: one chain of dependent double adds is bound by the add
// latency, while independent lanes overlap (and vectorise). The lane of an
// element depends only on its place in the row, so threads do not change it.
constexpr int kLanes = 8;

// Calls fn(i, lane) for the flat index i of every element of channel c of a
// tensor viewed as (N, C, S), in (n, s) order.
template <typename F>
void for_channel_lanes(const BatchNormShape& g, int64_t c, const F& fn) {
  for (int64_t n = 0; n < g.n; ++n) {
    const int64_t row = (n * g.c + c) * g.s;
    int64_t i = 0;
    for (; i + kLanes <= g.s; i += kLanes)
      for (int k = 0; k < kLanes; ++k) fn(row + i + k, k);
    for (int k = 0; i < g.s; ++i, ++k) fn(row + i, k);
  }
}

double lane_total(const double (&lane)[kLanes]) {
  double total = 0;
  for (int k = 0; k < kLanes; ++k) total += lane[k];
  return total;
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
        double sum[kLanes] = {};
        for_channel_lanes(g, c, [&](int64_t i, int k) { sum[k] += x[i]; });
        mean = lane_total(sum) / count;
        double squares[kLanes] = {};  // two passes: no cancellation when |mean| >> std
        for_channel_lanes(g, c, [&](int64_t i, int k) {
          const double d = x[i] - mean;
          squares[k] += d * d;
        });
        const double var = lane_total(squares) / count;
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
      double dy_lanes[kLanes] = {}, dy_xc_lanes[kLanes] = {};  // sum dy, sum dy * (x - mean)
      for_channel_lanes(g, c, [&](int64_t i, int k) {
        dy_lanes[k] += dy[i];
        dy_xc_lanes[k] += dy[i] * (x[i] - mean);
      });
      const double sum_dy = lane_total(dy_lanes), sum_dy_xc = lane_total(dy_xc_lanes);
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
