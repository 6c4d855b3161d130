// General matrix multiply, the engine's workhorse:
//
//   C := act(alpha * A @ B + beta * C + bias)
//
// A is m x k, B is k x n, C is m x n, each given by a pointer and two element
// strides (row stride, column stride), so transposed and sliced operands need
// no copy: op(A) = A^T is the same memory with the strides swapped.
// beta == 0 never reads C. Results are bit-identical for any thread count.
#pragma once
#include <cstdint>

namespace pyengine {

enum class Activation : int { none = 0, relu, gelu, tanh, sigmoid };

template <typename T>
struct GemmProblem {
  int64_t m = 0, n = 0, k = 0;
  T alpha = 1, beta = 0;
  const T* a = nullptr;
  int64_t a_rs = 0, a_cs = 0;  // A(i, p) = a[i * a_rs + p * a_cs]
  const T* b = nullptr;
  int64_t b_rs = 0, b_cs = 0;  // B(p, j) = b[p * b_rs + j * b_cs]
  T* c = nullptr;
  int64_t c_rs = 0, c_cs = 0;  // C(i, j) = c[i * c_rs + j * c_cs]
  const T* bias_n = nullptr;   // length n, added to every row (a Linear layer's bias)
  const T* bias_m = nullptr;   // length m, added to every column (a convolution's bias)
  Activation activation = Activation::none;
  // false when the caller already splits its work over threads (e.g. a batch):
  // the product then runs on the calling thread only.
  bool threaded = true;
  // B already in the blocked path's panels (gemm_pack_b), or null. Used only
  // when the blocked path runs; b, b_rs and b_cs must describe B either way.
  const T* packed_b = nullptr;
};

template <typename T>
void gemm(const GemmProblem<T>& p);

// A product with min(m, n) at most this runs the skinny path (or the
// matrix-vector one), with no blocking: its big operand is read in place, as
// each element of it is used by at most a few register tiles and packing it
// would cost as much memory traffic as the multiply itself, and it takes no
// B packed ahead (gemm_packed_b_size is 0). Each element of C is one FMA
// chain over the whole of k, whichever columns a call covers.
constexpr int64_t kGemmSkinny = 16;

// A B used by many products (a recurrent weight, once per time step) is
// packed once: gemm_packed_b_size(p) elements (0 when p's shape does not run
// the blocked path, which then reads B in place anyway), filled by
// gemm_pack_b(p, dst) and passed as p.packed_b to every product with the
// same k, n and B. The packed layout depends on k and n only, not on m.
template <typename T>
int64_t gemm_packed_b_size(const GemmProblem<T>& p);
template <typename T>
void gemm_pack_b(const GemmProblem<T>& p, T* dst);

// A stack of `batch` products sharing p's shapes, scalars, bias and
// activation: product i reads A at p.a + i * a_bs, B at p.b + i * b_bs and
// writes C at p.c + i * c_bs (element strides; 0 broadcasts one operand).
template <typename T>
void gemm_batched(const GemmProblem<T>& p, int64_t batch, int64_t a_bs, int64_t b_bs, int64_t c_bs);

// The measured peak of this CPU's FMA units on `threads` threads, in GFLOPS
// for T: a loop of independent FMAs (the active ISA's), the ceiling a GEMM
// can approach.
template <typename T>
double peak_gflops(int threads);

}  // namespace pyengine
