// The optimizer family's dispatch table and its threaded drivers.
#include "core/parallel.h"
#include "kernels/optim/optim.h"

namespace pyengine {

const OptimTable& optim_kernels() {
  static const OptimTable* const tables[kIsaCount] = {
      &scalar::optim_table,
#ifdef PYENGINE_HAVE_AVX2
      &avx2::optim_table,
#else
      nullptr,
#endif
      nullptr,  // avx512
      nullptr,  // neon
  };
  return select_table(tables);
}

namespace {

// An update streams ~5 arrays and does a few flops per element: below ~32K
// elements the cost of waking a second thread exceeds the time it would save.
constexpr int64_t kGrain = 32768;

template <typename T>
const OptimKernels<T>& kernels_for() {
  if constexpr (sizeof(T) == 4) return optim_kernels().f32;
  else return optim_kernels().f64;
}

template <typename T>
T* offset(T* p, int64_t i) { return p ? p + i : nullptr; }

}  // namespace

template <typename T>
void sgd_update(T* param, const T* grad, T* momentum_buffer, int64_t n, const SgdHyper& h) {
  const auto fn = kernels_for<T>().sgd;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    fn(param + b, grad + b, offset(momentum_buffer, b), e - b, h);
  });
}

template <typename T>
void adam_update(T* param, const T* grad, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, int64_t n,
                 const AdamHyper& h) {
  const auto fn = kernels_for<T>().adam;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    fn(param + b, grad + b, exp_avg + b, exp_avg_sq + b, offset(max_exp_avg_sq, b), e - b, h);
  });
}

template <typename T>
void rmsprop_update(T* param, const T* grad, T* square_avg, T* momentum_buffer, T* grad_avg, int64_t n,
                    const RmspropHyper& h) {
  const auto fn = kernels_for<T>().rmsprop;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    fn(param + b, grad + b, square_avg + b, offset(momentum_buffer, b), offset(grad_avg, b), e - b, h);
  });
}

template <typename T>
void adagrad_update(T* param, const T* grad, T* state_sum, int64_t n, const AdagradHyper& h) {
  const auto fn = kernels_for<T>().adagrad;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) { fn(param + b, grad + b, state_sum + b, e - b, h); });
}

template <typename T>
void adadelta_update(T* param, const T* grad, T* square_avg, T* acc_delta, int64_t n, const AdadeltaHyper& h) {
  const auto fn = kernels_for<T>().adadelta;
  parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    fn(param + b, grad + b, square_avg + b, acc_delta + b, e - b, h);
  });
}

template void sgd_update<float>(float*, const float*, float*, int64_t, const SgdHyper&);
template void sgd_update<double>(double*, const double*, double*, int64_t, const SgdHyper&);
template void adam_update<float>(float*, const float*, float*, float*, float*, int64_t, const AdamHyper&);
template void adam_update<double>(double*, const double*, double*, double*, double*, int64_t, const AdamHyper&);
template void rmsprop_update<float>(float*, const float*, float*, float*, float*, int64_t, const RmspropHyper&);
template void rmsprop_update<double>(double*, const double*, double*, double*, double*, int64_t,
                                     const RmspropHyper&);
template void adagrad_update<float>(float*, const float*, float*, int64_t, const AdagradHyper&);
template void adagrad_update<double>(double*, const double*, double*, int64_t, const AdagradHyper&);
template void adadelta_update<float>(float*, const float*, float*, float*, int64_t, const AdadeltaHyper&);
template void adadelta_update<double>(double*, const double*, double*, double*, int64_t, const AdadeltaHyper&);

}  // namespace pyengine
