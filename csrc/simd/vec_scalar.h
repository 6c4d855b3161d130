// One-lane Vec: the portable reference for every vector operation. Kernels
// compiled for the scalar ISA use it, so their vector loop is the scalar loop.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace pyengine {
namespace PYENGINE_CPU_ISA {

template <typename T>
struct VecMask {
  bool m;
};

template <typename T>
struct Vec {
  using value_type = T;
  // Same-width integer, for exponent bit manipulation in simd/math.h.
  using int_type = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  static constexpr int size = 1;
  T v;

  static Vec broadcast(T x) { return {x}; }
  static Vec zero() { return {T(0)}; }
  static Vec loadu(const T* p) { return {*p}; }
  static Vec load(const T* p) { return {*p}; }
  // p[0], p[2], ... and p[1], p[3], ...: 2 * size values split by parity.
  static void load_even_odd(const T* p, Vec& even, Vec& odd) { even.v = p[0], odd.v = p[1]; }
  // Loads `size` values of another floating type, converted to T (exact
  // from float to double): float data summed in double precision.
  template <typename U>
  static Vec loadu_convert(const U* p) { return {static_cast<T>(*p)}; }
  // The reverse: stores `size` values converted to U.
  template <typename U>
  void store_convert(U* p) const { *p = static_cast<U>(v); }
  void storeu(T* p) const { *p = v; }
  void store(T* p) const { *p = v; }
  T lane(int) const { return v; }
  T reduce_add() const { return v; }
  T reduce_max() const { return v; }

  friend Vec operator+(Vec a, Vec b) { return {a.v + b.v}; }
  friend Vec operator-(Vec a, Vec b) { return {a.v - b.v}; }
  friend Vec operator*(Vec a, Vec b) { return {a.v * b.v}; }
  friend Vec operator/(Vec a, Vec b) { return {a.v / b.v}; }
  friend Vec operator-(Vec a) { return {-a.v}; }
};

// a * b + c, rounded once (std::fma), like the hardware FMA of the vector ISAs.
template <typename T> inline Vec<T> fmadd(Vec<T> a, Vec<T> b, Vec<T> c) { return {std::fma(a.v, b.v, c.v)}; }
// c - a * b, rounded once.
template <typename T> inline Vec<T> fnmadd(Vec<T> a, Vec<T> b, Vec<T> c) { return {std::fma(-a.v, b.v, c.v)}; }
// NaN-propagating like x86 maxps with the NaN in b: max(a, b) = a > b ? a : b.
template <typename T> inline Vec<T> max(Vec<T> a, Vec<T> b) { return {a.v > b.v ? a.v : b.v}; }
template <typename T> inline Vec<T> min(Vec<T> a, Vec<T> b) { return {a.v < b.v ? a.v : b.v}; }
template <typename T> inline Vec<T> abs(Vec<T> a) { return {std::fabs(a.v)}; }
template <typename T> inline Vec<T> sqrt(Vec<T> a) { return {std::sqrt(a.v)}; }
// Round to nearest, ties to even (the default MXCSR/FPCR mode).
template <typename T> inline Vec<T> round_nearest(Vec<T> a) { return {std::nearbyint(a.v)}; }
template <typename T> inline Vec<T> floor(Vec<T> a) { return {std::floor(a.v)}; }

template <typename T> inline VecMask<T> operator<(Vec<T> a, Vec<T> b) { return {a.v < b.v}; }
template <typename T> inline VecMask<T> operator>(Vec<T> a, Vec<T> b) { return {a.v > b.v}; }
template <typename T> inline VecMask<T> operator<=(Vec<T> a, Vec<T> b) { return {a.v <= b.v}; }
template <typename T> inline VecMask<T> operator>=(Vec<T> a, Vec<T> b) { return {a.v >= b.v}; }
template <typename T> inline VecMask<T> is_nan(Vec<T> a) { return {a.v != a.v}; }
template <typename T> inline VecMask<T> operator|(VecMask<T> a, VecMask<T> b) { return {a.m || b.m}; }
template <typename T> inline VecMask<T> operator&(VecMask<T> a, VecMask<T> b) { return {a.m && b.m}; }
// mask ? a : b, lane by lane.
template <typename T> inline Vec<T> select(VecMask<T> mask, Vec<T> a, Vec<T> b) { return {mask.m ? a.v : b.v}; }

// Bit-level access for exponent manipulation: reinterpret as integers and back.
template <typename T> inline typename Vec<T>::int_type to_bits(Vec<T> a) {
  typename Vec<T>::int_type i;
  std::memcpy(&i, &a.v, sizeof(T));
  return i;
}
template <typename T> inline Vec<T> from_bits(typename Vec<T>::int_type i) {
  Vec<T> a;
  std::memcpy(&a.v, &i, sizeof(T));
  return a;
}
// 2^n for integral n within the normal exponent range, built in the exponent field.
template <typename T> inline Vec<T> pow2_int(Vec<T> n) {
  using I = typename Vec<T>::int_type;
  constexpr int mant = sizeof(T) == 4 ? 23 : 52;
  constexpr I bias = sizeof(T) == 4 ? 127 : 1023;
  return from_bits<T>((static_cast<I>(n.v) + bias) << mant);
}

// IEEE-754 layout of T, for the bit-level helpers below.
template <typename T>
struct FloatLayout {
  using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  static constexpr int mantissa_bits = sizeof(T) == 4 ? 23 : 52;
  static constexpr int exponent_bias = sizeof(T) == 4 ? 127 : 1023;
  static constexpr Bits mantissa_mask = (Bits(1) << mantissa_bits) - 1;
};

template <typename T> inline typename FloatLayout<T>::Bits raw_bits(T v) {
  typename FloatLayout<T>::Bits b;
  std::memcpy(&b, &v, sizeof(T));
  return b;
}

// True where the sign bit is set: -0, negative numbers, -inf and NaNs with the
// sign set. Read from the bit, so a negative denormal counts even when the FPU
// treats denormal operands as zero (DAZ, see core/parallel.h).
template <typename T> inline VecMask<T> sign_bit(Vec<T> a) { return {std::signbit(a.v)}; }
// |magnitude| with the sign bit of sign_source.
template <typename T> inline Vec<T> copysign(Vec<T> magnitude, Vec<T> sign_source) {
  return {std::copysign(magnitude.v, sign_source.v)};
}
// For positive, finite, normal a = m * 2^e with m in [1, 2): exponent(a) = e
// and significand(a) = m, both exact.
template <typename T> inline Vec<T> exponent(Vec<T> a) {
  using L = FloatLayout<T>;
  return {static_cast<T>(static_cast<int>(raw_bits(a.v) >> L::mantissa_bits)) - T(L::exponent_bias)};
}
template <typename T> inline Vec<T> significand(Vec<T> a) {
  using L = FloatLayout<T>;
  const typename L::Bits b = (raw_bits(a.v) & L::mantissa_mask) | raw_bits(T(1));
  T m;
  std::memcpy(&m, &b, sizeof(T));
  return {m};
}
// The stored mantissa field of a as an integer, converted to T (exact). For a
// denormal a it equals a * 2^(exponent_bias - 1 + mantissa_bits), computed with
// integer operations, so it is right even when the FPU flushes denormals.
template <typename T> inline Vec<T> mantissa_field(Vec<T> a) {
  return {static_cast<T>(raw_bits(a.v) & FloatLayout<T>::mantissa_mask)};
}

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
