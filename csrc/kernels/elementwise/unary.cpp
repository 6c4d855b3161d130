// Unary activations and their backward passes, compiled once per ISA.
//
// Every kernel is one vector lambda run by transform() (simd/vec.h), whose
// padded tail sends the last few elements through the same instructions, so
// the scalar build of this file is the reference of the AVX2 build.
#include "kernels/elementwise/elementwise.h"
#include "simd/math.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

template <typename T>
Vec<T> relu_vec(Vec<T> x) {
  // max(x, 0) with x first: a NaN input stays NaN, as in NumPy.
  return select(is_nan(x), x, max(x, Vec<T>::zero()));
}

// The standard normal density exp(-x^2 / 2) / sqrt(2 pi), with x^2 split
// exactly as in erfc so that it keeps its relative accuracy for large |x|.
template <typename T>
Vec<T> normal_pdf(Vec<T> x) {
  const Vec<T> half = Vec<T>::broadcast(T(0.5));
  const ExactSquare<T> x2 = exact_square(x);
  return exp_neg_square(ExactSquare<T>{x2.hi * half, x2.lo * half}) * Vec<T>::broadcast(T(0.39894228040143267794));
}

// d/dx x Phi(x) = Phi(x) + x phi(x).
template <typename T>
Vec<T> gelu_derivative(Vec<T> x) {
  const Vec<T> pdf = normal_pdf(x);
  // x * 0 would be NaN at x = +-inf, where the density term vanishes.
  const Vec<T> x_pdf = select(pdf > Vec<T>::zero(), x * pdf, Vec<T>::zero());
  return normal_cdf(x) + x_pdf;
}

template <typename T, Vec<T> (*F)(Vec<T>)>
void apply(const T* x, T* y, int64_t n) {
  transform(x, y, n, F);
}

template <typename T>
void leaky_relu(const T* x, T* y, int64_t n, T slope) {
  const Vec<T> s = Vec<T>::broadcast(slope);
  // x > 0 is false for NaN, and NaN * slope stays NaN.
  transform(x, y, n, [&](Vec<T> v) { return select(v > Vec<T>::zero(), v, v * s); });
}

template <typename T>
void relu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  transform(x, dy, dx, n, [](Vec<T> xv, Vec<T> g) { return select(xv > Vec<T>::zero(), g, Vec<T>::zero()); });
}

template <typename T>
void leaky_relu_backward(const T* x, const T* dy, T* dx, int64_t n, T slope) {
  const Vec<T> s = Vec<T>::broadcast(slope);
  transform(x, dy, dx, n, [&](Vec<T> xv, Vec<T> g) { return select(xv > Vec<T>::zero(), g, g * s); });
}

template <typename T>
void gelu_backward(const T* x, const T* dy, T* dx, int64_t n) {
  transform(x, dy, dx, n, [](Vec<T> xv, Vec<T> g) { return g * gelu_derivative(xv); });
}

template <typename T>
void tanh_backward(const T* y, const T* dy, T* dx, int64_t n) {
  const Vec<T> one = Vec<T>::broadcast(T(1));
  transform(y, dy, dx, n, [&](Vec<T> yv, Vec<T> g) { return g * fnmadd(yv, yv, one); });
}

template <typename T>
void sigmoid_backward(const T* y, const T* dy, T* dx, int64_t n) {
  const Vec<T> one = Vec<T>::broadcast(T(1));
  transform(y, dy, dx, n, [&](Vec<T> yv, Vec<T> g) { return g * yv * (one - yv); });
}

template <typename T>
constexpr UnaryKernels<T> make_unary_kernels() {
  UnaryKernels<T> k{};
  k.relu = apply<T, relu_vec<T>>;
  k.exp = apply<T, exp<T>>;
  k.log = apply<T, log<T>>;
  k.tanh = apply<T, tanh<T>>;
  k.sigmoid = apply<T, sigmoid<T>>;
  k.gelu = apply<T, gelu<T>>;
  k.erf = apply<T, erf<T>>;
  k.leaky_relu = leaky_relu<T>;
  k.relu_backward = relu_backward<T>;
  k.gelu_backward = gelu_backward<T>;
  k.leaky_relu_backward = leaky_relu_backward<T>;
  k.tanh_backward = tanh_backward<T>;
  k.sigmoid_backward = sigmoid_backward<T>;
  return k;
}

}  // namespace

extern const UnaryTable unary_table = {make_unary_kernels<float>(), make_unary_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
