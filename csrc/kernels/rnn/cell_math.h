// Shared pieces of the fused gate passes (rnn_cell.cpp, lstm_cell.cpp,
// gru_cell.cpp). A cell's arithmetic is written once, as a generic lambda
// over V = Vec<T> for the whole registers of a row and V = T for its tail,
// so the vector path and the scalar path cannot drift apart.
#pragma once
#include <cstdint>
#include <type_traits>

#include "simd/math.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {

template <typename V, typename T>
inline V load(const T* p) {
  if constexpr (std::is_same_v<V, T>) return *p;
  else return V::loadu(p);
}
template <typename T>
inline void store(T* p, T v) { *p = v; }
template <typename T>
inline void store(T* p, Vec<T> v) { v.storeu(p); }

template <typename V, typename T>
inline V splat(T x) {
  if constexpr (std::is_same_v<V, T>) return x;
  else return V::broadcast(x);
}

// The activations of the gate passes, on whole registers (simd/math.h) and on
// single tail lanes. A tail lane goes through the same vector code, so an
// element's result does not depend on where it sits in the row.
template <typename T>
inline Vec<T> gate_sigmoid(Vec<T> v) { return sigmoid(v); }
template <typename T>
inline Vec<T> gate_tanh(Vec<T> v) { return tanh(v); }
template <typename T>
inline T gate_sigmoid(T x) { return sigmoid(Vec<T>::broadcast(x)).lane(0); }
template <typename T>
inline T gate_tanh(T x) { return tanh(Vec<T>::broadcast(x)).lane(0); }

// dh_next + dy, the gradient reaching a step's output; dy is null when the
// caller has no gradient for the outputs.
template <typename V, typename T>
inline V output_grad(const T* dh_next, const T* dy, int64_t j) {
  V dh = load<V>(dh_next + j);
  return dy ? dh + load<V>(dy + j) : dh;
}

// Calls body(j, V{}) on [0, n): whole registers first, then the tail lane by lane.
template <typename T, typename Body>
inline void for_each_lane_block(int64_t n, const Body& body) {
  constexpr int W = Vec<T>::size;
  int64_t j = 0;
  for (; j + W <= n; j += W) body(j, Vec<T>{});
  for (; j < n; ++j) body(j, T{});
}

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
