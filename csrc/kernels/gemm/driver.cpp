// Reference GEMM driver: rows of C in parallel, each entry a dot product
// accumulated in the order p = 0 .. k-1, then the epilogue.
#include <cmath>

#include "core/parallel.h"
#include "kernels/gemm/gemm.h"

namespace pyengine {
namespace {

template <typename T>
T apply_activation(T v, Activation act) {
  switch (act) {
    case Activation::none: return v;
    case Activation::relu: return v > T(0) ? v : T(0);
    case Activation::gelu: return T(0.5) * v * (T(1) + std::erf(v / std::sqrt(T(2))));
    case Activation::tanh: return std::tanh(v);
    case Activation::sigmoid: return T(1) / (T(1) + std::exp(-v));
  }
  return v;
}

template <typename T>
void gemm_rows(const GemmProblem<T>& p, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      T acc = 0;
      for (int64_t q = 0; q < p.k; ++q) acc += p.a[i * p.a_rs + q * p.a_cs] * p.b[q * p.b_rs + j * p.b_cs];
      T& c = p.c[i * p.c_rs + j * p.c_cs];
      T v = p.alpha * acc;
      if (p.beta != T(0)) v += p.beta * c;
      if (p.bias_n) v += p.bias_n[j];
      if (p.bias_m) v += p.bias_m[i];
      c = apply_activation(v, p.activation);
    }
  }
}

}  // namespace

template <typename T>
void gemm(const GemmProblem<T>& p) {
  if (p.m == 0 || p.n == 0) return;
  if (!p.threaded) {
    gemm_rows(p, 0, p.m);
    return;
  }
  parallel_for(0, p.m, 4, [&](int64_t i0, int64_t i1) { gemm_rows(p, i0, i1); });
}

template void gemm<float>(const GemmProblem<float>&);
template void gemm<double>(const GemmProblem<double>&);

}  // namespace pyengine
