// The arithmetic operators on contiguous arrays, compiled once per ISA.
// A single IEEE operation per element (no FMA to contract into), so every
// ISA gives NumPy's bytes (denormals aside: the drivers' threads flush them,
// core/parallel.h) and the scalar build is the reference.
#include "kernels/elementwise/elementwise.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

struct Add {
  template <typename V>
  V operator()(V a, V b) const { return a + b; }
};
struct Sub {
  template <typename V>
  V operator()(V a, V b) const { return a - b; }
};
struct Mul {
  template <typename V>
  V operator()(V a, V b) const { return a * b; }
};
struct Div {
  template <typename V>
  V operator()(V a, V b) const { return a / b; }
};

// out[i] = at(i) for the whole vectors of [0, n), four at a time with the
// four results computed before any is stored: with one vector at a time
// (load, operate, store) these memory-bound loops run ~1.5x slower than
// NumPy's on Zen 3, the store of each vector holding up the load of the next.
// Returns where the whole groups end; the caller finishes with transform().
template <typename T, typename At>
int64_t stream_groups(T* out, int64_t n, const At& at) {
  constexpr int W = Vec<T>::size;
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    const Vec<T> y0 = at(i), y1 = at(i + W), y2 = at(i + 2 * W), y3 = at(i + 3 * W);
    y0.storeu(out + i);
    y1.storeu(out + i + W);
    y2.storeu(out + i + 2 * W);
    y3.storeu(out + i + 3 * W);
  }
  return i;
}

template <typename T, typename Op>
void arrays(const T* a, const T* b, T* out, int64_t n) {
  const int64_t i = stream_groups(out, n, [&](int64_t j) { return Op{}(Vec<T>::loadu(a + j), Vec<T>::loadu(b + j)); });
  transform(a + i, b + i, out + i, n - i, Op{});
}

template <typename T, typename Op>
void with_scalar(const T* a, T s, T* out, int64_t n) {
  const Vec<T> sv = Vec<T>::broadcast(s);
  const int64_t i = stream_groups(out, n, [&](int64_t j) { return Op{}(Vec<T>::loadu(a + j), sv); });
  transform(a + i, out + i, n - i, [&](Vec<T> v) { return Op{}(v, sv); });
}

template <typename T>
constexpr BinaryKernels<T> make_binary_kernels() {
  return {{arrays<T, Add>, arrays<T, Sub>, arrays<T, Mul>, arrays<T, Div>},
          {with_scalar<T, Add>, with_scalar<T, Sub>, with_scalar<T, Mul>, with_scalar<T, Div>}};
}

}  // namespace

extern const BinaryTable binary_table = {make_binary_kernels<float>(), make_binary_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
