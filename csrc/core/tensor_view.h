// A non-owning view of a strided array: what the bindings hand to kernels.
// Strides are in elements (not bytes) so kernels index with plain arithmetic.
#pragma once
#include <array>
#include <cstdint>

namespace pyengine {

constexpr int kMaxDims = 8;

template <typename T>
struct TensorView {
  T* data = nullptr;
  int ndim = 0;
  std::array<int64_t, kMaxDims> shape{};
  std::array<int64_t, kMaxDims> strides{};

  int64_t size(int d) const { return shape[d]; }
  int64_t stride(int d) const { return strides[d]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
  bool is_contiguous() const {
    int64_t expected = 1;
    for (int d = ndim - 1; d >= 0; --d) {
      if (shape[d] != 1 && strides[d] != expected) return false;
      expected *= shape[d];
    }
    return true;
  }
  T& at(int64_t i, int64_t j) const { return data[i * strides[0] + j * strides[1]]; }
};

}  // namespace pyengine
