// AVX2+FMA Vec: 8 floats or 4 doubles in one 256-bit ymm register.
// Loads are unaligned (loadu): on Zen and Haswell-and-later an unaligned load
// that does not cross a cache line costs the same as an aligned one, and NumPy
// arrays are only guaranteed 16-byte alignment.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace pyengine {
namespace PYENGINE_CPU_ISA {

template <typename T> struct Vec;
template <typename T> struct VecMask;

template <> struct VecMask<float> { __m256 m; };
template <> struct VecMask<double> { __m256d m; };

template <>
struct Vec<float> {
  using value_type = float;
  using int_type = __m256i;
  static constexpr int size = 8;
  __m256 v;

  static Vec broadcast(float x) { return {_mm256_set1_ps(x)}; }
  static Vec zero() { return {_mm256_setzero_ps()}; }
  static Vec loadu(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Vec load(const float* p) { return {_mm256_load_ps(p)}; }
  // p[0], p[2], ..., p[14] and p[1], p[3], ..., p[15]. shufps picks the
  // pairs within each 128-bit half; one lane-crossing permute restores order.
  static void load_even_odd(const float* p, Vec& even, Vec& odd) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    even.v = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
    odd.v = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
  }
  void storeu(float* p) const { _mm256_storeu_ps(p, v); }
  void store(float* p) const { _mm256_store_ps(p, v); }
  // The first n lanes (0 <= n <= 8) only; memory past them is not touched
  // (vmaskmov: a masked-off lane never faults), the other lanes load as 0.
  static __m256i first_lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Vec load_first(const float* p, int n) { return {_mm256_maskload_ps(p, first_lanes(n))}; }
  void store_first(float* p, int n) const { _mm256_maskstore_ps(p, first_lanes(n), v); }
  float lane(int i) const {
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    return t[i];
  }
  float reduce_add() const {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  float reduce_max() const {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  friend Vec operator+(Vec a, Vec b) { return {_mm256_add_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_ps(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_ps(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm256_div_ps(a.v, b.v)}; }
  friend Vec operator-(Vec a) { return {_mm256_xor_ps(a.v, _mm256_set1_ps(-0.0f))}; }
};

template <>
struct Vec<double> {
  using value_type = double;
  using int_type = __m256i;
  static constexpr int size = 4;
  __m256d v;

  static Vec broadcast(double x) { return {_mm256_set1_pd(x)}; }
  static Vec zero() { return {_mm256_setzero_pd()}; }
  static Vec loadu(const double* p) { return {_mm256_loadu_pd(p)}; }
  static Vec load(const double* p) { return {_mm256_load_pd(p)}; }
  // p[0], p[2], p[4], p[6] and p[1], p[3], p[5], p[7], as for float.
  static void load_even_odd(const double* p, Vec& even, Vec& odd) {
    const __m256d a = _mm256_loadu_pd(p), b = _mm256_loadu_pd(p + 4);
    even.v = _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b), 0xD8);
    odd.v = _mm256_permute4x64_pd(_mm256_unpackhi_pd(a, b), 0xD8);
  }
  static Vec loadu_convert(const float* p) { return {_mm256_cvtps_pd(_mm_loadu_ps(p))}; }
  static Vec loadu_convert(const double* p) { return loadu(p); }
  // Stores the lanes rounded to float (or as they are): results computed in
  // double for float data.
  void store_convert(float* p) const { _mm_storeu_ps(p, _mm256_cvtpd_ps(v)); }
  void store_convert(double* p) const { storeu(p); }
  void storeu(double* p) const { _mm256_storeu_pd(p, v); }
  void store(double* p) const { _mm256_store_pd(p, v); }
  // The first n lanes (0 <= n <= 4) only, as for float.
  static __m256i first_lanes(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static Vec load_first(const double* p, int n) { return {_mm256_maskload_pd(p, first_lanes(n))}; }
  void store_first(double* p, int n) const { _mm256_maskstore_pd(p, first_lanes(n), v); }
  double lane(int i) const {
    alignas(32) double t[4];
    _mm256_store_pd(t, v);
    return t[i];
  }
  double reduce_add() const {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  double reduce_max() const {
    __m128d s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
  }
  friend Vec operator+(Vec a, Vec b) { return {_mm256_add_pd(a.v, b.v)}; }
  friend Vec operator-(Vec a, Vec b) { return {_mm256_sub_pd(a.v, b.v)}; }
  friend Vec operator*(Vec a, Vec b) { return {_mm256_mul_pd(a.v, b.v)}; }
  friend Vec operator/(Vec a, Vec b) { return {_mm256_div_pd(a.v, b.v)}; }
  friend Vec operator-(Vec a) { return {_mm256_xor_pd(a.v, _mm256_set1_pd(-0.0))}; }
};

inline Vec<float> fmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
inline Vec<double> fmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
inline Vec<float> fnmadd(Vec<float> a, Vec<float> b, Vec<float> c) { return {_mm256_fnmadd_ps(a.v, b.v, c.v)}; }
inline Vec<double> fnmadd(Vec<double> a, Vec<double> b, Vec<double> c) { return {_mm256_fnmadd_pd(a.v, b.v, c.v)}; }
// maxps returns its second operand when either is NaN; the scalar reference
// (a > b ? a : b) does the same with the NaN in b.
inline Vec<float> max(Vec<float> a, Vec<float> b) { return {_mm256_max_ps(a.v, b.v)}; }
inline Vec<double> max(Vec<double> a, Vec<double> b) { return {_mm256_max_pd(a.v, b.v)}; }
inline Vec<float> min(Vec<float> a, Vec<float> b) { return {_mm256_min_ps(a.v, b.v)}; }
inline Vec<double> min(Vec<double> a, Vec<double> b) { return {_mm256_min_pd(a.v, b.v)}; }
inline Vec<float> abs(Vec<float> a) { return {_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a.v)}; }
inline Vec<double> abs(Vec<double> a) { return {_mm256_andnot_pd(_mm256_set1_pd(-0.0), a.v)}; }
inline Vec<float> sqrt(Vec<float> a) { return {_mm256_sqrt_ps(a.v)}; }
inline Vec<double> sqrt(Vec<double> a) { return {_mm256_sqrt_pd(a.v)}; }
inline Vec<float> round_nearest(Vec<float> a) { return {_mm256_round_ps(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline Vec<double> round_nearest(Vec<double> a) { return {_mm256_round_pd(a.v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)}; }
inline Vec<float> floor(Vec<float> a) { return {_mm256_floor_ps(a.v)}; }
inline Vec<double> floor(Vec<double> a) { return {_mm256_floor_pd(a.v)}; }

// Ordered, non-signalling comparisons: false when either lane is NaN, as in C++.
inline VecMask<float> operator<(Vec<float> a, Vec<float> b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LT_OQ)}; }
inline VecMask<float> operator>(Vec<float> a, Vec<float> b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GT_OQ)}; }
inline VecMask<float> operator<=(Vec<float> a, Vec<float> b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_LE_OQ)}; }
inline VecMask<float> operator>=(Vec<float> a, Vec<float> b) { return {_mm256_cmp_ps(a.v, b.v, _CMP_GE_OQ)}; }
inline VecMask<float> is_nan(Vec<float> a) { return {_mm256_cmp_ps(a.v, a.v, _CMP_UNORD_Q)}; }
inline VecMask<double> operator<(Vec<double> a, Vec<double> b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_LT_OQ)}; }
inline VecMask<double> operator>(Vec<double> a, Vec<double> b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_GT_OQ)}; }
inline VecMask<double> operator<=(Vec<double> a, Vec<double> b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_LE_OQ)}; }
inline VecMask<double> operator>=(Vec<double> a, Vec<double> b) { return {_mm256_cmp_pd(a.v, b.v, _CMP_GE_OQ)}; }
inline VecMask<double> is_nan(Vec<double> a) { return {_mm256_cmp_pd(a.v, a.v, _CMP_UNORD_Q)}; }
inline VecMask<float> operator|(VecMask<float> a, VecMask<float> b) { return {_mm256_or_ps(a.m, b.m)}; }
inline VecMask<float> operator&(VecMask<float> a, VecMask<float> b) { return {_mm256_and_ps(a.m, b.m)}; }
inline VecMask<double> operator|(VecMask<double> a, VecMask<double> b) { return {_mm256_or_pd(a.m, b.m)}; }
inline VecMask<double> operator&(VecMask<double> a, VecMask<double> b) { return {_mm256_and_pd(a.m, b.m)}; }
inline Vec<float> select(VecMask<float> m, Vec<float> a, Vec<float> b) { return {_mm256_blendv_ps(b.v, a.v, m.m)}; }
inline Vec<double> select(VecMask<double> m, Vec<double> a, Vec<double> b) { return {_mm256_blendv_pd(b.v, a.v, m.m)}; }

template <typename T> inline __m256i to_bits(Vec<T> a);
template <> inline __m256i to_bits(Vec<float> a) { return _mm256_castps_si256(a.v); }
template <> inline __m256i to_bits(Vec<double> a) { return _mm256_castpd_si256(a.v); }
template <typename T> inline Vec<T> from_bits(__m256i i);
template <> inline Vec<float> from_bits<float>(__m256i i) { return {_mm256_castsi256_ps(i)}; }
template <> inline Vec<double> from_bits<double>(__m256i i) { return {_mm256_castsi256_pd(i)}; }

// 2^n for integral n within the normal exponent range, built in the exponent field.
inline Vec<float> pow2_int(Vec<float> n) {
  const __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(n.v), _mm256_set1_epi32(127));
  return {_mm256_castsi256_ps(_mm256_slli_epi32(e, 23))};
}
inline Vec<double> pow2_int(Vec<double> n) {
  // No packed double->int64 conversion before AVX-512DQ; the magic-number add
  // leaves n + 1023 in the low mantissa bits, which then shift into place.
  const __m256d magic = _mm256_set1_pd(4503599627370496.0);  // 2^52
  const __m256i e = _mm256_castpd_si256(_mm256_add_pd(n.v, _mm256_add_pd(magic, _mm256_set1_pd(1023.0))));
  return {_mm256_castsi256_pd(_mm256_slli_epi64(e, 52))};
}

// The bit-level helpers of simd/math.h; vec_scalar.h states their contracts.
// They work on the integer bits, so they are right for denormals even with
// DAZ set (see core/parallel.h).
inline VecMask<float> sign_bit(Vec<float> a) {
  return {_mm256_castsi256_ps(_mm256_srai_epi32(_mm256_castps_si256(a.v), 31))};
}
inline VecMask<double> sign_bit(Vec<double> a) {
  // No 64-bit arithmetic shift before AVX-512; a signed compare with 0 gives the same mask.
  return {_mm256_castsi256_pd(_mm256_cmpgt_epi64(_mm256_setzero_si256(), _mm256_castpd_si256(a.v)))};
}
inline Vec<float> copysign(Vec<float> magnitude, Vec<float> sign_source) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  return {_mm256_or_ps(_mm256_andnot_ps(sign, magnitude.v), _mm256_and_ps(sign, sign_source.v))};
}
inline Vec<double> copysign(Vec<double> magnitude, Vec<double> sign_source) {
  const __m256d sign = _mm256_set1_pd(-0.0);
  return {_mm256_or_pd(_mm256_andnot_pd(sign, magnitude.v), _mm256_and_pd(sign, sign_source.v))};
}
inline Vec<float> exponent(Vec<float> a) {
  const __m256i e = _mm256_srli_epi32(_mm256_castps_si256(a.v), 23);
  return {_mm256_sub_ps(_mm256_cvtepi32_ps(e), _mm256_set1_ps(127.0f))};
}
inline Vec<double> exponent(Vec<double> a) {
  // No packed int64 -> double conversion before AVX-512DQ: placing the biased
  // exponent in the mantissa of 2^52 and subtracting 2^52 converts it exactly.
  const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
  const __m256i e = _mm256_srli_epi64(_mm256_castpd_si256(a.v), 52);
  const __m256d biased = _mm256_sub_pd(_mm256_or_pd(_mm256_castsi256_pd(e), two52), two52);
  return {_mm256_sub_pd(biased, _mm256_set1_pd(1023.0))};
}
inline Vec<float> significand(Vec<float> a) {
  const __m256 mantissa = _mm256_castsi256_ps(_mm256_set1_epi32(0x007fffff));
  return {_mm256_or_ps(_mm256_and_ps(a.v, mantissa), _mm256_set1_ps(1.0f))};
}
inline Vec<double> significand(Vec<double> a) {
  const __m256d mantissa = _mm256_castsi256_pd(_mm256_set1_epi64x(0x000fffffffffffffLL));
  return {_mm256_or_pd(_mm256_and_pd(a.v, mantissa), _mm256_set1_pd(1.0))};
}
inline Vec<float> mantissa_field(Vec<float> a) {
  const __m256i mantissa = _mm256_set1_epi32(0x007fffff);
  return {_mm256_cvtepi32_ps(_mm256_and_si256(_mm256_castps_si256(a.v), mantissa))};
}
inline Vec<double> mantissa_field(Vec<double> a) {
  const __m256d mantissa = _mm256_castsi256_pd(_mm256_set1_epi64x(0x000fffffffffffffLL));
  const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
  return {_mm256_sub_pd(_mm256_or_pd(_mm256_and_pd(a.v, mantissa), two52), two52)};
}

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
