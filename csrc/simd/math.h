// Vectorised exp, log, tanh, sigmoid, erf, erfc and the exact GELU on Vec<T>,
// for float and double, written once for every ISA: the scalar build runs the very same
// code one lane at a time, which makes it the specification.
//
// Each function reduces its argument to a short interval (Cody-Waite for exp,
// exponent splitting for log) and evaluates a polynomial there with FMA
// (Horner). Special inputs are settled with selects at the end, never by
// arithmetic that could turn into NaN: overflow gives inf, underflow 0.
//
// Accuracy, measured by tests/test_simd_math.py over 10^6 arguments spread
// over the whole range, against float64 (for float) and x87 long double (for
// double): largest relative errors
//   float:  exp 7.5e-8, log 7.9e-8, tanh 1.3e-7, sigmoid 1.4e-7, erf 2.1e-7,
//           erfc (reached through gelu) 4.3e-7, in its tail near x = 7.7;
//   double: exp, log, tanh, sigmoid, erf 1.4e-16 .. 2.5e-16 (about 1 ulp),
//           erfc 2.7e-15;
//   gelu:   4.6e-7 (float), 1.9e-13 (double, deep in the left tail) while
//           Phi(x) is a normal number; below x = -12.9 (float) or -37.5
//           (double) Phi(x) is denormal, flushes to 0, and so does gelu.
// Results that are denormal come out as 0 when the caller runs with
// flush-to-zero (every parallel_run region does, see core/parallel.h).
//
// Polynomial coefficients are either Taylor coefficients (where the interval
// is short enough that truncation error is below half an ulp) or least-squares
// fits at 40 digits on 400 Chebyshev nodes of the interval, rounded to T;
// their maximum error on the interval is given beside them.
#pragma once
#include <cstddef>
#include <limits>

#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {

// c[0] * x^(N-1) + c[1] * x^(N-2) + ... + c[N-1]: Horner's rule with FMA, one
// rounding per coefficient.
template <typename T, std::size_t N>
inline Vec<T> polynomial(Vec<T> x, const T (&c)[N]) {
  Vec<T> p = Vec<T>::broadcast(c[0]);
  for (std::size_t i = 1; i < N; ++i) p = fmadd(p, x, Vec<T>::broadcast(c[i]));
  return p;
}

template <typename T>
struct MathConstants;

template <>
struct MathConstants<float> {
  // exp: x > exp_overflow gives inf (ln of the largest float); x < exp_underflow
  // gives 0 (ln of half the smallest denormal).
  static constexpr float exp_overflow = 88.7228394f;
  static constexpr float exp_underflow = -103.972084f;
  static constexpr float log2e = 1.44269504f;
  // ln 2 split so that n * ln2_hi is exact for |n| < 2^15: the reduced
  // argument x - n ln2 keeps all its bits however large n is.
  static constexpr float ln2_hi = 0.693359375f;
  static constexpr float ln2_lo = -2.12194440e-4f;
  // exp(r) for |r| <= ln2 / 2: Taylor to degree 7; the remainder
  // r^8 / 8! < 5.2e-9 is a tenth of float's half ulp.
  static constexpr float exp_poly[] = {1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f};
  // log: ln 2 split with n * ln2_hi exact for the 8-bit exponents of float.
  static constexpr float log_ln2_hi = 0.693145751953125f;
  static constexpr float log_ln2_lo = 1.42860654e-6f;
  // A denormal is its mantissa field (an integer) times 2^denormal_exponent.
  static constexpr float denormal_exponent = -149.0f;
  // log(1+f) = 2 atanh(s), s = f / (2 + f), |s| <= 0.1716: the atanh series
  // 2/3 s^2 + 2/5 s^4 + ... to s^8; the next term is below 5e-9 relative.
  static constexpr float log_poly[] = {2.0f / 9, 2.0f / 7, 2.0f / 5, 2.0f / 3};
  // tanh(x) = x + x^3 P(x^2) for |x| < 0.625 (fit, max relative error of P 1.4e-7).
  // 2 e^(-2 x) < 2^-25 from x = 9.01 on.
  static constexpr float tanh_saturation = 9.1f;
  static constexpr float tanh_poly[] = {-0.00608871831f, 0.0209908746f, -0.0538493507f, 0.133327574f,
                                        -0.333333284f};
  // erf(x) = x P(x^2) for |x| < 1 (fit, max relative error 1.3e-9), used below erfc_cutover.
  static constexpr float erf_poly[] = {7.84725926e-05f, -0.000800818903f, 0.00518809911f, -0.0268536918f,
                                       0.112835824f, -0.37612626f, 1.12837911f};
  // erfc(x) = exp(-x^2) Q(t), t = (x - 2) / (x + 2), for erfc_cutover <= x <=
  // erfc_top (fit, max relative error 1.6e-9). The map to t turns the slowly
  // decaying erfc(x) e^(x^2) ~ 1 / (x sqrt(pi)) into a function a polynomial
  // fits; beyond erfc_top erfc is below the smallest denormal. The cutover is
  // 0.5, not 1: 1 - x P(x^2) for erfc cancels up to 2.3 bits near x = 1.
  static constexpr float erfc_cutover = 0.5f;
  static constexpr float erfc_top = 10.0f;
  static constexpr float erfc_poly[] = {0.000147415558f, 6.23495143e-05f, -0.0009720581f, -0.000852630474f,
                                        0.00699584f,     0.00373359118f,  -0.0789784715f, 0.241658166f,
                                        -0.427185863f,   0.255395681f};
};

template <>
struct MathConstants<double> {
  static constexpr double exp_overflow = 709.782712893384;
  static constexpr double exp_underflow = -745.1332191019412;
  static constexpr double log2e = 1.4426950408889634;
  // fdlibm's split: ln2_hi has 32 significant bits, n * ln2_hi is exact for |n| < 2^20.
  static constexpr double ln2_hi = 6.93147180369123816490e-01;
  static constexpr double ln2_lo = 1.90821492927058770002e-10;
  // Taylor to degree 13: r^14 / 14! < 4.2e-18 for |r| <= ln2 / 2, a
  // thirtieth of double's half ulp.
  static constexpr double exp_poly[] = {
      1.0 / 6227020800, 1.0 / 479001600, 1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040,
      1.0 / 720,        1.0 / 120,       1.0 / 24,       1.0 / 6,       0.5,          1.0,         1.0};
  static constexpr double log_ln2_hi = ln2_hi;
  static constexpr double denormal_exponent = -1074.0;
  static constexpr double log_ln2_lo = ln2_lo;
  // atanh series to s^20: the next term 2/23 s^22 is below 1e-17 relative.
  static constexpr double log_poly[] = {2.0 / 21, 2.0 / 19, 2.0 / 17, 2.0 / 15, 2.0 / 13,
                                        2.0 / 11, 2.0 / 9,  2.0 / 7,  2.0 / 5,  2.0 / 3};
  // Fit, max relative error of P 3.9e-16 (degree 10 in x^2).
  // 2 e^(-2 x) < 2^-54 from x = 19.06 on.
  static constexpr double tanh_saturation = 19.5;
  static constexpr double tanh_poly[] = {-1.7222258316517355e-05, 7.955522313130078e-05, -0.00023073921066570638,
                                         0.0005874202257123278,   -0.0014553045347742318, 0.0035920581539310996,
                                         -0.008863229744154214,   0.0218694882553017,     -0.05396825396123356,
                                         0.13333333333326464,     -0.3333333333333332};
  // Fit, max relative error 1.6e-17 (degree 11 in x^2).
  static constexpr double erf_poly[] = {-7.77682913736281e-10,   1.3709519207384055e-08, -1.6205964194101388e-07,
                                        1.6447084274239356e-06,  -1.4924708324571507e-05, 0.00012055293361789941,
                                        -0.0008548325921832884,  0.005223977605955977,    -0.026866170643090832,
                                        0.1128379167094405,      -0.37612638903183515,    1.1283791670955126};
  // Fit for 1 <= x <= 27, max relative error 8.8e-16 (degree 18 in t). The
  // cutover stays at 1, where the cancellation of 1 - x P(x^2) costs at most
  // 5.4 times erf's error, 1.3e-15; reaching down to 0.5 would take degree 20.
  static constexpr double erfc_cutover = 1.0;
  static constexpr double erfc_top = 27.0;
  static constexpr double erfc_poly[] = {
      2.8264037484274297e-07, -4.3670841928195957e-07, -1.7240764880931999e-06, 2.7819997070137716e-06,
      3.1768586223372797e-06, 1.1296616806103322e-06,  -1.3690233775015873e-05, -2.7615209987887195e-05,
      2.7490574810591743e-05, 0.00017437226694943237,  4.3557174820604414e-05,  -0.0009819779943150912,
      -0.0008471432503167918, 0.006997461776310005,    0.0037328924026854217,   -0.07897858101633541,
      0.24165819424249377,    -0.4271858474139555,     0.2553956763105057};
};

template <typename T>
inline Vec<T> infinity() {
  return Vec<T>::broadcast(std::numeric_limits<T>::infinity());
}

// e^x = 2^n e^r with n = round(x / ln2) and r = x - n ln2, |r| <= ln2 / 2:
// returns e^r (the Taylor polynomial) and n, for the caller to scale.
template <typename T>
struct ExpReduced {
  Vec<T> exp_r;
  Vec<T> n;
};

template <typename T>
inline ExpReduced<T> exp_reduced(Vec<T> x) {
  using C = MathConstants<T>;
  const Vec<T> n = round_nearest(x * Vec<T>::broadcast(C::log2e));
  Vec<T> r = fnmadd(n, Vec<T>::broadcast(C::ln2_hi), x);
  r = fnmadd(n, Vec<T>::broadcast(C::ln2_lo), r);
  return {polynomial(r, C::exp_poly), n};
}

// e^x for |x| <= 87 (float) or 708 (double), where 2^n is a normal number:
// no special cases, for callers that bound their argument (tanh).
template <typename T>
inline Vec<T> exp_in_range(Vec<T> x) {
  const ExpReduced<T> e = exp_reduced(x);
  return e.exp_r * pow2_int(e.n);
}

// e^x for every x.
template <typename T>
inline Vec<T> exp(Vec<T> x) {
  using C = MathConstants<T>;
  const Vec<T> hi = Vec<T>::broadcast(C::exp_overflow), lo = Vec<T>::broadcast(C::exp_underflow);
  // Clamping keeps n inside the exponent range; max with x first turns a NaN
  // into `lo` (maxps returns its second operand), fixed by the last select.
  const ExpReduced<T> e = exp_reduced(min(max(x, lo), hi));
  // 2^n in two factors: each stays a normal number down to n = -150 (float)
  // or -1075 (double), so results in the denormal range are formed too when
  // the FPU does not flush them.
  const Vec<T> n1 = floor(e.n * Vec<T>::broadcast(T(0.5)));
  Vec<T> y = e.exp_r * pow2_int(n1) * pow2_int(e.n - n1);
  y = select(x > hi, infinity<T>(), y);
  y = select(x < lo, Vec<T>::zero(), y);
  return select(is_nan(x), x, y);
}

// Natural logarithm. x = 2^e m with m in [sqrt(1/2), sqrt(2)), so f = m - 1
// lies in [-0.29, 0.41]; log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) with
// s = f / (2 + f) (fdlibm's arrangement, which keeps the leading f exact).
template <typename T>
inline Vec<T> log(Vec<T> x) {
  using C = MathConstants<T>;
  const Vec<T> one = Vec<T>::broadcast(T(1));
  const Vec<T> ax = abs(x);
  // Zeros and denormals (and, with DAZ, the FPU sees denormals as zeros
  // too): a denormal's mantissa field, read as an integer, is a normal
  // number, and x = field * 2^-(bias - 1 + mantissa bits).
  const VecMask<T> tiny = ax < Vec<T>::broadcast(std::numeric_limits<T>::min());
  const Vec<T> xn = select(tiny, mantissa_field(ax), ax);
  const VecMask<T> zero = tiny & (xn < one);
  Vec<T> e = exponent(xn) + select(tiny, Vec<T>::broadcast(C::denormal_exponent), Vec<T>::zero());
  Vec<T> m = significand(xn);
  // Halving m (exact) when it is above sqrt(2) centres f on 0, where the
  // series converges fastest.
  const VecMask<T> above = m > Vec<T>::broadcast(T(1.41421356237309504880));
  m = select(above, m * Vec<T>::broadcast(T(0.5)), m);
  e = select(above, e + one, e);
  const Vec<T> f = m - one;
  const Vec<T> s = f / (Vec<T>::broadcast(T(2)) + f);
  const Vec<T> z = s * s;
  const Vec<T> r = z * polynomial(z, C::log_poly);
  const Vec<T> hfsq = Vec<T>::broadcast(T(0.5)) * f * f;
  // e ln2_hi + (e ln2_lo + log(1 + f)), small terms first.
  const Vec<T> small = fmadd(s, hfsq + r, e * Vec<T>::broadcast(C::log_ln2_lo));
  Vec<T> y = fmadd(e, Vec<T>::broadcast(C::log_ln2_hi), (f - (hfsq - small)));
  y = select(x > Vec<T>::broadcast(std::numeric_limits<T>::max()), x, y);  // +inf
  y = select(sign_bit(x), Vec<T>::broadcast(std::numeric_limits<T>::quiet_NaN()), y);
  y = select(zero, -infinity<T>(), y);  // log(+-0) = -inf
  return select(is_nan(x), x, y);
}

// tanh. For |x| >= 0.625, tanh|x| = 1 - 2 / (e^(2|x|) + 1): no overflow
// (e^(2|x|) = inf gives exactly 1) and no cancellation, since 2 / (e + 1)
// <= 0.45 there. Below 0.625 that subtraction would cancel bits (at x = 0.01
// it loses 7), so an odd polynomial takes over; 0.625 is the classic Cephes
// cutover where both forms are accurate and the polynomial is still short.
//
// Beyond tanh_saturation, 1 - tanh|x| < 2 e^(-2|x|) is below half an ulp of 1,
// so tanh rounds to +-1 there: clamping |x| to it keeps e^(2|x|) finite and
// lets exp skip its overflow, underflow and NaN handling (NaN is restored at
// the end, since the clamp turns it into the saturation point).
template <typename T>
inline Vec<T> tanh(Vec<T> x) {
  using C = MathConstants<T>;
  const Vec<T> one = Vec<T>::broadcast(T(1));
  const Vec<T> ax = abs(x);
  const Vec<T> z = x * x;
  const Vec<T> small = fmadd(x * z, polynomial(z, C::tanh_poly), x);
  const Vec<T> a = min(ax, Vec<T>::broadcast(C::tanh_saturation));
  const Vec<T> e = exp_in_range(a + a);
  const Vec<T> large = copysign(one - Vec<T>::broadcast(T(2)) / (e + one), x);
  Vec<T> y = select(ax < Vec<T>::broadcast(T(0.625)), small, large);
  // tanh x = x for zeros and denormals, returned as given: the polynomial
  // would flush a denormal to 0 under DAZ.
  y = select(ax < Vec<T>::broadcast(std::numeric_limits<T>::min()), x, y);
  return select(is_nan(x), x, y);
}

// 1 / (1 + e^-x). e^-x = inf for very negative x gives exactly 0, and
// e^-x -> 0 gives exactly 1; the relative error stays that of exp plus two
// roundings over the whole range.
template <typename T>
inline Vec<T> sigmoid(Vec<T> x) {
  const Vec<T> one = Vec<T>::broadcast(T(1));
  return one / (one + exp(-x));
}

// x^2 as hi + lo exactly (FMA): e^-(x^2) = e^-hi (1 - lo) then keeps its
// relative accuracy where x^2 is large (a plain rounding of x^2 = 100 would
// cost 100 ulp of the result).
template <typename T>
struct ExactSquare {
  Vec<T> hi, lo;
};

template <typename T>
inline ExactSquare<T> exact_square(Vec<T> x) {
  const Vec<T> hi = x * x;
  return {hi, fmadd(x, x, -hi)};
}

// e^-(hi + lo) for a square split by exact_square (|lo| <= ulp(hi) / 2).
template <typename T>
inline Vec<T> exp_neg_square(ExactSquare<T> sq) {
  const Vec<T> e = exp(-sq.hi);
  // Where x^2 overflowed, lo = x^2 - inf is NaN; e is 0 there and stays so.
  return select(e > Vec<T>::zero(), fnmadd(e, sq.lo, e), e);
}

// erfc|x| for |x| >= erfc_cutover as e^(-x^2) Q(t), given x^2 split exactly.
template <typename T>
inline Vec<T> erfc_tail(Vec<T> ax, ExactSquare<T> sq) {
  using C = MathConstants<T>;
  const Vec<T> two = Vec<T>::broadcast(T(2));
  const Vec<T> a = min(max(ax, Vec<T>::broadcast(C::erfc_cutover)), Vec<T>::broadcast(C::erfc_top));
  const Vec<T> t = (a - two) / (a + two);
  const Vec<T> y = exp_neg_square(sq) * polynomial(t, C::erfc_poly);
  return select(ax > Vec<T>::broadcast(C::erfc_top), Vec<T>::zero(), y);
}

// The two regimes shared by erf and erfc: the series x P(x^2), used below
// erfc_cutover, and the tail erfc|x| above it.
template <typename T>
struct ErfPieces {
  VecMask<T> use_series;
  Vec<T> series;
  Vec<T> tail;
};

template <typename T>
inline ErfPieces<T> erf_pieces(Vec<T> x, ExactSquare<T> sq) {
  using C = MathConstants<T>;
  const Vec<T> ax = abs(x);
  return {ax < Vec<T>::broadcast(C::erfc_cutover), x * polynomial(sq.hi, C::erf_poly), erfc_tail(ax, sq)};
}

template <typename T>
inline Vec<T> erfc_from_pieces(Vec<T> x, const ErfPieces<T>& p) {
  const Vec<T> large = select(x < Vec<T>::zero(), Vec<T>::broadcast(T(2)) - p.tail, p.tail);
  const Vec<T> y = select(p.use_series, Vec<T>::broadcast(T(1)) - p.series, large);
  return select(is_nan(x), x, y);
}

// The error function: x P(x^2) below the cutover, 1 - erfc|x| (with the sign of x) above.
template <typename T>
inline Vec<T> erf(Vec<T> x) {
  using C = MathConstants<T>;
  const ErfPieces<T> p = erf_pieces(x, exact_square(x));
  Vec<T> y = select(p.use_series, p.series, copysign(Vec<T>::broadcast(T(1)) - p.tail, x));
  // erf x = 2/sqrt(pi) x for a denormal x, and that can be a normal number,
  // which DAZ would turn into 0: scale the mantissa field (an exact integer)
  // back by 2^denormal_exponent in two normal factors instead.
  const Vec<T> ax = abs(x);
  const Vec<T> h = Vec<T>::broadcast(T(int(C::denormal_exponent) / 2));
  const Vec<T> scaled = mantissa_field(ax) * Vec<T>::broadcast(T(1.12837916709551257390)) * pow2_int(h) *
                        pow2_int(Vec<T>::broadcast(C::denormal_exponent) - h);
  y = select(ax < Vec<T>::broadcast(std::numeric_limits<T>::min()), copysign(scaled, x), y);
  return select(is_nan(x), x, y);
}

// The complementary error function 1 - erf(x), accurate relative to its own
// (tiny) value for large x, where 1 - erf(x) would cancel every bit.
template <typename T>
inline Vec<T> erfc(Vec<T> x) {
  return erfc_from_pieces(x, erf_pieces(x, exact_square(x)));
}

// The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2. The tail's
// exponent is taken from the exact x^2 / 2 rather than from the square of
// the rounded x / sqrt 2, which would be off by about x^2 ulp (2e-6 relative
// in float at x = -8).
template <typename T>
inline Vec<T> normal_cdf(Vec<T> x) {
  const Vec<T> half = Vec<T>::broadcast(T(0.5));
  const Vec<T> u = x * Vec<T>::broadcast(T(-0.70710678118654752440));
  const ExactSquare<T> x2 = exact_square(x);
  return half * erfc_from_pieces(u, erf_pieces(u, ExactSquare<T>{x2.hi * half, x2.lo * half}));
}

// Exact (erf-form) GELU, PyTorch's default: x Phi(x) = x (1 + erf(x / sqrt 2)) / 2.
// Written with erfc, not 1 + erf, so the left tail (gelu(-5) = -1.4e-6)
// keeps its relative accuracy instead of being a difference of numbers near 1.
template <typename T>
inline Vec<T> gelu(Vec<T> x) {
  const Vec<T> cdf = normal_cdf(x);
  // x * 0 would be NaN at x = -inf, where the limit is 0.
  const Vec<T> y = select(cdf > Vec<T>::zero(), x * cdf, Vec<T>::zero());
  return select(is_nan(x), x, y);
}

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
