// The GEMM driver: the Goto/BLIS five loops around the micro-kernel, the
// skinny and matrix-vector paths, and the threads. Compiled once with
// portable flags; everything ISA-specific is behind gemm_kernels().
//
// Which path runs depends only on the shape and strides, never on the thread
// count, and threads split only the m and n dimensions: every element of C is
// summed in the same order whatever the number of threads.
#include <algorithm>
#include <chrono>
#include <vector>

#include "core/buffer.h"
#include "core/cpu.h"
#include "core/parallel.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/pack.h"
#include "kernels/gemm/ukernel.h"

namespace pyengine {

const GemmTable& gemm_kernels() {
  static const GemmTable* const tables[kIsaCount] = {
      &scalar::gemm_table,
#ifdef PYENGINE_HAVE_AVX2
      &avx2::gemm_table,
#else
      nullptr,
#endif
      nullptr,  // avx512: no kernels until a machine with AVX-512 can test them
      nullptr,  // neon
  };
  return select_table(tables);
}

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Each thread gets at least this many multiply-adds (~20 us of work):
// waking a thread and meeting it at a barrier costs microseconds even on an
// idle machine, and a time slice on a busy one.
constexpr int64_t kMinFmasPerThread = int64_t(1) << 20;
// A matrix-vector product loads a fresh matrix element for every multiply-add,
// and a thin-k product (k <= kThinK) stores a fresh element of C for every k
// of them: both run at memory speed, many times slower per FMA than a blocked
// product, and a second core brings its own L2 and load/store bandwidth.
// Counting each of their FMAs 16 times gives a thread 64K of them (~10 us at
// k = 1): a 784 x 256 layer at batch 1 (200K FMAs, its forward product and
// its k = 1 weight gradient) runs 1.33-1.38x faster on two threads than on
// one.
constexpr int64_t kGemvFmaCost = 16;
// Up to this depth a product is a sum of a few outer products (a weight
// gradient at batch 1, say): each element of C costs k FMAs but a whole
// store, so the product runs at store bandwidth and goes row by row.
constexpr int64_t kThinK = 8;
// Below this many columns the blocked product reads a row-major A in place
// rather than packing it: each element of A then feeds only n / 16 cycles of
// FMAs, too few to repay the copy, even the vectorised one (pack.cpp). Any
// other A is packed: read in place, a transposed A (a weight gradient's
// dY^T) puts each step of k on a new cache line and page, which measured
// 12-31 % slower than packing it at n = 64..128.
constexpr int64_t kPackAMinColumns = 128;
// Above this many columns a row-major A whose rows span more than L2 is
// packed too: the mc rows of a block then lie a whole row apart (4 KiB at
// k = 1024), each on a page of its own, and packed they ran 3-20 % faster
// than in place at n = 128 (1600 x 1024 x 128, a recurrent layer's input
// gradient; 3500 x 512 x 128; 6272 x 1152 x 128), the two builds alternating
// in one process in both orders. At n = 64 the copy cost more than it saved
// (256 x 4608 x 64 8-10 % slower packed).
constexpr int64_t kPackLargeAMinColumns = 64;

struct Blocking {
  int mr, nr;
  int64_t kc, mc, nc;
};

// The block sizes for this CPU: the kc x NR micro-panel of B fills half of L1
// (the other half streams A's micro-panel and C), the mc x kc block of A half
// of L2, the kc x nc block of B a quarter of the shared L3; each within the
// ISA's bounds and rounded to whole register tiles.
template <typename T>
Blocking blocking_for(const BlockSizeTable& t) {
  const CpuInfo& cpu = cpu_info();
  const int64_t sz = sizeof(T);
  Blocking b{t.mr, t.nr, 0, 0, 0};
  b.kc = std::clamp<int64_t>(static_cast<int64_t>(cpu.l1d) / 2 / (t.nr * sz), 64, t.kc_max) / 8 * 8;
  b.mc = std::clamp<int64_t>(static_cast<int64_t>(cpu.l2) / 2 / (b.kc * sz), t.mr, t.mc_max) / t.mr * t.mr;
  b.nc = std::clamp<int64_t>(static_cast<int64_t>(cpu.l3) / 4 / (b.kc * sz), t.nr, t.nc_max) / t.nr * t.nr;
  return b;
}

int threads_for(int64_t m, int64_t n, int64_t k, bool threaded) {
  if (!threaded || in_parallel_region()) return 1;
  const int64_t work = m * n * std::max<int64_t>(k, 1);
  return static_cast<int>(std::clamp<int64_t>(work / kMinFmasPerThread, 1, get_num_threads()));
}

// The tile of C at (i, j), with the problem's alpha and strides.
template <typename T>
MicroTile<T> tile_at(const GemmProblem<T>& p, int64_t i, int64_t j, int64_t mr, int64_t nr) {
  MicroTile<T> t;
  t.c = p.c + i * p.c_rs + j * p.c_cs;
  t.c_rs = p.c_rs;
  t.c_cs = p.c_cs;
  t.m = static_cast<int>(std::min(mr, p.m - i));
  t.n = static_cast<int>(std::min(nr, p.n - j));
  t.alpha = p.alpha;
  t.beta = p.beta;
  return t;
}

template <typename T>
Epilogue<T> epilogue_at(const GemmProblem<T>& p, int64_t i, int64_t j) {
  return {p.bias_n ? p.bias_n + j : nullptr, p.bias_m ? p.bias_m + i : nullptr, p.activation};
}

// k == 0: C := act(beta * C + bias), written through the shared epilogue.
template <typename T>
void gemm_empty_k(const GemmProblem<T>& p) {
  const T zeros[1] = {T(0)};
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) {
      MicroTile<T> t = tile_at(p, i, j, 1, 1);
      t.epilogue = epilogue_at(p, i, j);
      store_tile(zeros, 0, t);
    }
}

// ---- matrix-vector: m == 1 or n == 1 -------------------------------------

// The vector operand and the matrix of a matrix-vector product, in the
// layout a gemv kernel reads: y[j] = sum_p x[p] * mat(p, j) (axpy form, mat
// with unit column stride) or y[j] = sum_p mat(j, p) * x[p] (dot form).
template <typename T>
struct GemvShape {
  int64_t len;  // entries of y: n when m == 1, m when n == 1
  const T* x;
  int64_t x_stride;
  const T* mat;
  int64_t mat_rs;
  GemvFn<T> kernel;
  bool axpy;  // kernel is the axpy form (mat indexed by column j)
};

// Returns false when neither operand layout suits a gemv kernel.
template <typename T>
bool gemv_shape(const GemmProblem<T>& p, const GemmKernels<T>& kern, GemvShape<T>& s) {
  if (p.m == 1) {  // y = x^T B with x = row 0 of A
    s = {p.n, p.a, p.a_cs, p.b, 0, nullptr, false};
    if (p.b_cs == 1) s.kernel = kern.gemv_axpy, s.mat_rs = p.b_rs, s.axpy = true;
    else if (p.b_rs == 1) s.kernel = kern.gemv_dot, s.mat_rs = p.b_cs;
  } else {  // n == 1: y = A x with x = column 0 of B
    s = {p.m, p.b, p.b_rs, p.a, 0, nullptr, false};
    if (p.a_cs == 1) s.kernel = kern.gemv_dot, s.mat_rs = p.a_rs;
    else if (p.a_rs == 1) s.kernel = kern.gemv_axpy, s.mat_rs = p.a_cs, s.axpy = true;
  }
  return s.kernel != nullptr;
}

template <typename T>
void gemv(const GemmProblem<T>& p, const GemvShape<T>& s) {
  // x is short (k entries): a strided one is gathered once so the kernels
  // stream it with unit stride.
  ScratchBuffer xbuf(s.x_stride == 1 ? 0 : p.k * sizeof(T));
  const T* x = s.x;
  if (s.x_stride != 1) {
    for (int64_t q = 0; q < p.k; ++q) xbuf.as<T>()[q] = s.x[q * s.x_stride];
    x = xbuf.as<T>();
  }
  // A short result (a recurrent step's gates) lives on the stack, clear of
  // the pool's lock.
  constexpr int64_t kStackEntries = 1024;
  alignas(64) T y_stack[kStackEntries];
  ScratchBuffer ybuf(s.len > kStackEntries ? s.len * sizeof(T) : 0);
  T* y = s.len > kStackEntries ? ybuf.as<T>() : y_stack;
  // Ranges of 64 entries: whole vectors for every ISA, so no thread gets a
  // sliver and the split never changes which entries share a register.
  constexpr int64_t kChunk = 64;
  const int nthreads = threads_for(1, s.len, p.k * kGemvFmaCost, p.threaded);
  const int64_t chunks = ceil_div(s.len, kChunk);
  parallel_run(nthreads, [&](int tid, int nt) {
    const int64_t j0 = std::min(s.len, split_begin(0, chunks, nt, tid) * kChunk);
    const int64_t j1 = std::min(s.len, split_begin(0, chunks, nt, tid + 1) * kChunk);
    if (j0 >= j1) return;
    s.kernel(p.k, j1 - j0, x, s.axpy ? s.mat + j0 : s.mat + j0 * s.mat_rs, s.mat_rs, y + j0);
    // The epilogue on the entries just computed, still in cache.
    if (p.m == 1) {
      MicroTile<T> t = tile_at(p, 0, j0, 1, j1 - j0);
      t.epilogue = epilogue_at(p, 0, j0);
      store_tile(y + j0, 0, t);
    } else {
      MicroTile<T> t = tile_at(p, j0, 0, j1 - j0, 1);
      t.epilogue = epilogue_at(p, j0, 0);
      store_tile(y + j0, 1, t);
    }
  });
}

// ---- thin k: a few outer products ----------------------------------------

// C is written row by row with the axpy gemv kernel, C(i, :) = sum_p A(i, p)
// B(p, :): whole lines in address order, which the hardware prefetcher
// streams, rather than register tiles that pay a kernel call and six
// scattered row stores per 6 x 16 results. Rows are split over the threads.
template <typename T>
void gemm_thin_k(const GemmProblem<T>& p, const GemmKernels<T>& kern) {
  // Without an epilogue the kernel writes C's rows itself; otherwise each
  // row goes through a buffer and the shared epilogue.
  const bool direct = p.c_cs == 1 && p.beta == T(0) && is_plain(p.alpha, epilogue_at(p, 0, 0));
  const int nthreads = threads_for(p.m, p.n, p.k * kGemvFmaCost, p.threaded);
  const int64_t row_len = direct ? 0 : round_up(p.n, 16);
  ScratchBuffer rows(static_cast<size_t>(nthreads) * row_len * sizeof(T));
  parallel_run(nthreads, [&](int tid, int nt) {
    T* const row = rows.as<T>() + tid * row_len;
    T x[kThinK];
    for (int64_t i = split_begin(0, p.m, nt, tid); i < split_begin(0, p.m, nt, tid + 1); ++i) {
      for (int64_t q = 0; q < p.k; ++q) x[q] = p.a[i * p.a_rs + q * p.a_cs];
      kern.gemv_axpy(p.k, p.n, x, p.b, p.b_rs, direct ? p.c + i * p.c_rs : row);
      if (direct) continue;
      MicroTile<T> t = tile_at(p, i, 0, 1, p.n);
      t.epilogue = epilogue_at(p, i, 0);
      store_tile(row, 0, t);
    }
  });
}

// ---- skinny products: min(m, n) <= kGemmSkinny, or tiny ones ----------------

// No blocking and no packing of A: each register tile runs the strided
// micro-kernel over the whole of k, reading A in place. B is read in place
// too when its columns are contiguous; otherwise (and for the last, partial
// column panel, which the kernel may not read past) its NR-column panel is
// packed, which is cheap here because either n is small or the panel is.
template <typename T>
void gemm_skinny(const GemmProblem<T>& p, const GemmKernels<T>& kern) {
  const int mr = kern.blocks.mr, nr = kern.blocks.nr;
  const int64_t m_panels = ceil_div(p.m, mr), n_panels = ceil_div(p.n, nr);
  const bool split_n = n_panels >= m_panels;
  const int nthreads = threads_for(p.m, p.n, p.k, p.threaded);
  const bool packs = p.b_cs != 1 || p.n % nr != 0;  // some panel is packed below
  ScratchBuffer packed(packs ? static_cast<size_t>(nthreads) * round_up(p.k * nr, 16) * sizeof(T) : 0);
  parallel_run(nthreads, [&](int tid, int nt) {
    T* panel = packs ? packed.as<T>() + tid * round_up(p.k * nr, 16) : nullptr;
    const int64_t jp0 = split_n ? split_begin(0, n_panels, nt, tid) : 0;
    const int64_t jp1 = split_n ? split_begin(0, n_panels, nt, tid + 1) : n_panels;
    const int64_t ip0 = split_n ? 0 : split_begin(0, m_panels, nt, tid);
    const int64_t ip1 = split_n ? m_panels : split_begin(0, m_panels, nt, tid + 1);
    // Loop over the n dimension, NR columns at a time.
    for (int64_t jp = jp0; jp < jp1; ++jp) {
      const int64_t j = jp * nr;
      const int n = static_cast<int>(std::min<int64_t>(nr, p.n - j));
      const T* b = p.b + j * p.b_cs;
      int64_t b_rs = p.b_rs;
      if (p.b_cs != 1 || n < nr) {
        pack_b_panel(p.k, n, nr, b, p.b_rs, p.b_cs, panel);
        b = panel;
        b_rs = nr;
      }
      // Loop over the m dimension, MR rows at a time, A read in place.
      for (int64_t ip = ip0; ip < ip1; ++ip) {
        const int64_t i = ip * mr;
        MicroTile<T> t = tile_at(p, i, j, mr, nr);
        t.k = p.k;
        t.a = p.a + i * p.a_rs;
        t.a_rs = p.a_rs;
        t.a_cs = p.a_cs;
        t.b = b;
        t.b_rs = b_rs;
        t.epilogue = epilogue_at(p, i, j);
        kern.strided(t);
      }
    }
  });
}

// ---- the blocked product: the five loops ----------------------------------

// The k and n blocks of a product, which fix where each panel of packed B
// goes: k is cut into equal blocks of at most kc (784 = 4 x 196 rather than
// 3 x 256 + 16, so no pass is a thin one that reloads C for little work),
// and n into equal blocks of whole register tiles.
struct KnBlocks {
  int64_t kc, nc;
};

KnBlocks kn_blocks(const Blocking& bs, int64_t k, int64_t n) {
  return {round_up(ceil_div(k, ceil_div(k, bs.kc)), 4), round_up(ceil_div(n, ceil_div(n, bs.nc)), bs.nr)};
}

// Where the panels of B(pc:pc+kc, jc:jc+nc) start in a whole packed B: the
// column blocks one after another, each holding its k blocks in order.
int64_t packed_b_offset(int64_t k, int64_t jc, int64_t pc, int64_t ncur, int nr) {
  return jc * k + round_up(ncur, nr) * pc;
}

// Packs this thread's share of the NR-column panels of B(pc:pc+kcur, jc:jc+ncur)
// into dst, panel after panel, as gemm_blocked reads them.
template <typename T>
void pack_b_block(const GemmProblem<T>& p, int64_t pc, int64_t kcur, int64_t jc, int64_t ncur, int nr, T* dst,
                  int tid, int nt) {
  const int64_t n_panels = ceil_div(ncur, nr);
  const int64_t jp0 = split_begin(0, n_panels, nt, tid), jp1 = split_begin(0, n_panels, nt, tid + 1);
  if (jp0 >= jp1) return;
  const int64_t j0 = jc + jp0 * nr, j1 = std::min(p.n, jc + jp1 * nr);
  pack_b_panels(kcur, j1 - j0, nr, p.b + pc * p.b_rs + j0 * p.b_cs, p.b_rs, p.b_cs, dst + jp0 * nr * kcur);
}

template <typename T>
void gemm_blocked(const GemmProblem<T>& p, const GemmKernels<T>& kern) {
  const Blocking bs = blocking_for<T>(kern.blocks);
  const int mr = bs.mr, nr = bs.nr;
  const KnBlocks kn = kn_blocks(bs, p.k, p.n);
  const int64_t kc = kn.kc, nc = kn.nc;
  const T* const prepacked = p.packed_b;
  const int nthreads = threads_for(p.m, p.n, p.k, p.threaded);
  const bool large_a = p.m * p.a_rs * static_cast<int64_t>(sizeof(T)) > static_cast<int64_t>(cpu_info().l2);
  const bool pack_a = p.n > kPackAMinColumns || p.a_cs != 1 || (large_a && p.n > kPackLargeAMinColumns);

  // Threads split the m dimension (each packs its own rows of A; packed B is
  // shared) unless m has too few register tiles to balance, then n (each
  // packs the same A block, a small one when m is small).
  const int64_t m_panels = ceil_div(p.m, mr);
  const int64_t n_panels_max = ceil_div(nc, nr);
  const double m_balance = static_cast<double>(ceil_div(m_panels, nthreads)) * nthreads / m_panels;
  const double n_balance = static_cast<double>(ceil_div(n_panels_max, nthreads)) * nthreads / n_panels_max;
  const bool split_m = m_balance <= n_balance * 1.05;

  const int64_t a_block = pack_a ? round_up(bs.mc * kc, 16) : 0;
  // Two buffers for packed B, used by alternate passes over k: a thread that
  // finished pass pc packs pass pc + 1 into the other one while the rest
  // still read theirs, so one barrier per pass suffices.
  const int64_t b_block = prepacked ? 0 : round_up(kc * nc, 16);
  ScratchBuffer packed_b(2 * b_block * sizeof(T));
  ScratchBuffer packed_a(static_cast<size_t>(nthreads) * a_block * sizeof(T));
  SpinBarrier barrier;

  parallel_run(nthreads, [&](int tid, int nt) {
    T* const ap = packed_a.as<T>() + tid * a_block;
    const int64_t i_begin = split_m ? split_begin(0, m_panels, nt, tid) * mr : 0;
    const int64_t i_end = split_m ? std::min(p.m, split_begin(0, m_panels, nt, tid + 1) * mr) : p.m;
    const int64_t mc = round_up(ceil_div(i_end - i_begin, ceil_div(i_end - i_begin, bs.mc)), mr);

    // Loop 5: over the n dimension, nc columns at a time (B block in L3).
    for (int64_t jc = 0; jc < p.n; jc += nc) {
      const int64_t ncur = std::min(nc, p.n - jc);
      const int64_t n_panels = ceil_div(ncur, nr);
      const int64_t jp_begin = split_m ? 0 : split_begin(0, n_panels, nt, tid);
      const int64_t jp_end = split_m ? n_panels : split_begin(0, n_panels, nt, tid + 1);

      // Loop 4: over the k dimension, kc at a time (rank-kc updates of C).
      for (int64_t pc = 0; pc < p.k; pc += kc) {
        const int64_t kcur = std::min(kc, p.k - pc);
        const bool last_k = pc + kcur == p.k;
        const T* bp = prepacked ? prepacked + packed_b_offset(p.k, jc, pc, ncur, nr) : nullptr;
        if (!prepacked) {
          // Pack B(pc:pc+kc, jc:jc+nc) into NR-column panels, the panels
          // shared out over the threads; everyone waits until the whole
          // block is in.
          T* const dst = packed_b.as<T>() + (pc / kc % 2) * b_block;
          pack_b_block(p, pc, kcur, jc, ncur, nr, dst, tid, nt);
          barrier.wait(nt);
          bp = dst;
        }

        // Loop 3: over this thread's rows of the m dimension, mc at a time
        // (A block in L2).
        for (int64_t ic = i_begin; ic < i_end; ic += mc) {
          const int64_t mcur = std::min(mc, i_end - ic);
          // Pack A(ic:ic+mc, pc:pc+kc) into MR-row panels (unless n is small).
          if (pack_a) pack_a_block(kcur, mcur, mr, p.a + ic * p.a_rs + pc * p.a_cs, p.a_rs, p.a_cs, ap);

          // Loop 2: over this thread's columns of the block, NR at a time
          // (B micro-panel in L1).
          for (int64_t jp = jp_begin; jp < jp_end; ++jp) {
            const int64_t j = jc + jp * nr;
            // Loop 1: over the rows of the block, MR at a time: one micro-kernel call per tile.
            for (int64_t ir = 0; ir < mcur; ir += mr) {
              MicroTile<T> t = tile_at(p, ic + ir, j, mr, nr);
              t.k = kcur;
              t.a = pack_a ? ap + ir * kcur : p.a + (ic + ir) * p.a_rs + pc * p.a_cs;
              t.a_rs = pack_a ? 1 : p.a_rs;
              t.a_cs = pack_a ? mr : p.a_cs;
              t.b = bp + jp * nr * kcur;
              t.b_rs = nr;
              if (pc > 0) t.beta = T(1);
              if (last_k) t.epilogue = epilogue_at(p, ic + ir, j);
              (pack_a ? kern.packed : kern.strided)(t);
            }
          }
        }
      }
      // The next block of columns packs into buffers still being read.
      if (!prepacked) barrier.wait(nt);
    }
  });
}

// C is column-major: compute C^T = B^T A^T instead, whose output is row-major,
// the layout the micro-kernels store whole vectors to.
template <typename T>
GemmProblem<T> transposed(const GemmProblem<T>& p) {
  GemmProblem<T> t = p;
  std::swap(t.m, t.n);
  t.a = p.b, t.a_rs = p.b_cs, t.a_cs = p.b_rs;
  t.b = p.a, t.b_rs = p.a_cs, t.b_cs = p.a_rs;
  t.c_rs = p.c_cs, t.c_cs = p.c_rs;
  t.bias_n = p.bias_m, t.bias_m = p.bias_n;
  return t;
}

enum class GemmPath { empty, empty_k, gemv, thin_k, skinny, blocked };

// Which path runs depends only on the shape and the strides (of the
// problem as given: a column-major C is handled by the caller).
template <typename T>
GemmPath gemm_path(const GemmProblem<T>& p, const GemmKernels<T>& kern, GemvShape<T>& shape) {
  if (p.m == 0 || p.n == 0) return GemmPath::empty;
  if (p.k == 0) return GemmPath::empty_k;
  if ((p.m == 1 || p.n == 1) && gemv_shape(p, kern, shape)) return GemmPath::gemv;
  if (p.k <= kThinK && p.b_cs == 1) return GemmPath::thin_k;
  const bool tiny = p.m * p.n * p.k <= 64 * 64 * 64;
  if (std::min(p.m, p.n) <= kGemmSkinny || (tiny && p.b_cs == 1)) return GemmPath::skinny;
  return GemmPath::blocked;
}

bool col_major_c(int64_t c_rs, int64_t c_cs, int64_t n) { return c_cs != 1 && c_rs == 1 && n > 1; }

}  // namespace

template <typename T>
void gemm(const GemmProblem<T>& problem) {
  const bool flip = col_major_c(problem.c_rs, problem.c_cs, problem.n);
  GemmProblem<T> p = flip ? transposed(problem) : problem;
  if (flip) p.packed_b = nullptr;  // B became A: its packing no longer applies
  const GemmKernels<T>& kern = gemm_kernels_for<T>();
  GemvShape<T> shape;
  switch (gemm_path(p, kern, shape)) {
    case GemmPath::empty: return;
    case GemmPath::empty_k: return gemm_empty_k(p);
    case GemmPath::gemv: return gemv(p, shape);
    case GemmPath::thin_k: return gemm_thin_k(p, kern);
    case GemmPath::skinny: return gemm_skinny(p, kern);
    case GemmPath::blocked: return gemm_blocked(p, kern);
  }
}

template <typename T>
int64_t gemm_packed_b_size(const GemmProblem<T>& p) {
  const GemmKernels<T>& kern = gemm_kernels_for<T>();
  GemvShape<T> shape;
  if (col_major_c(p.c_rs, p.c_cs, p.n) || gemm_path(p, kern, shape) != GemmPath::blocked) return 0;
  return round_up(p.n, kern.blocks.nr) * p.k;
}

template <typename T>
void gemm_pack_b(const GemmProblem<T>& p, T* dst) {
  const GemmKernels<T>& kern = gemm_kernels_for<T>();
  const Blocking bs = blocking_for<T>(kern.blocks);
  const int nr = bs.nr;
  const KnBlocks kn = kn_blocks(bs, p.k, p.n);
  // Every (column block, k block, panel) in the order gemm_blocked reads them.
  for (int64_t jc = 0; jc < p.n; jc += kn.nc) {
    const int64_t ncur = std::min(kn.nc, p.n - jc);
    for (int64_t pc = 0; pc < p.k; pc += kn.kc) {
      const int64_t kcur = std::min(kn.kc, p.k - pc);
      T* const block = dst + packed_b_offset(p.k, jc, pc, ncur, nr);
      parallel_run(threads_for(kcur, ncur, 1, p.threaded),
                   [&](int tid, int nt) { pack_b_block(p, pc, kcur, jc, ncur, nr, block, tid, nt); });
    }
  }
}

template <typename T>
void gemm_batched(const GemmProblem<T>& p, int64_t batch, int64_t a_bs, int64_t b_bs, int64_t c_bs) {
  auto item = [&](int64_t i, bool threaded) {
    GemmProblem<T> q = p;
    q.a = p.a + i * a_bs;
    q.b = p.b + i * b_bs;
    q.c = p.c + i * c_bs;
    if (b_bs != 0) q.packed_b = nullptr;  // one packed B serves only a broadcast B
    q.threaded = threaded;
    gemm(q);
  };
  // Small products run whole on one thread each, the batch split over the
  // threads; big ones one after another, each threaded. Either way every
  // product is computed the same way, so the bytes do not depend on it.
  const bool per_item_threads = p.m * p.n * std::max<int64_t>(p.k, 1) >= 4 * kMinFmasPerThread;
  if (!p.threaded || per_item_threads || batch == 1) {
    for (int64_t i = 0; i < batch; ++i) item(i, p.threaded);
    return;
  }
  parallel_for(0, batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) item(i, false);
  });
}

template <typename T>
double peak_gflops(int threads) {
  const GemmTable& table = gemm_kernels();
  const auto probe = sizeof(T) == 4 ? table.fma_probe_f32 : table.fma_probe_f64;
  // Many short runs (~0.3 ms each), each thread timing its own and keeping
  // its best: on a shared machine a short run is likely to fit in one time
  // slice, and a thread that starts late does not count against the others.
  // The peak is the sum of the threads' best rates.
  constexpr int64_t kIterations = int64_t(1) << 17;
  constexpr int kRuns = 40;
  std::vector<double> best(static_cast<size_t>(std::max(threads, 1)), 0.0);
  parallel_run(threads, [&](int tid, int) {
    probe(kIterations * 8);  // wakes the core from any low-power state
    for (int run = 0; run < kRuns; ++run) {
      const auto start = std::chrono::steady_clock::now();
      const double flops = probe(kIterations);
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best[tid] = std::max(best[tid], flops / seconds * 1e-9);
    }
  });
  double total = 0;
  for (double b : best) total += b;
  return total;
}

template void gemm<float>(const GemmProblem<float>&);
template void gemm<double>(const GemmProblem<double>&);
template int64_t gemm_packed_b_size<float>(const GemmProblem<float>&);
template int64_t gemm_packed_b_size<double>(const GemmProblem<double>&);
template void gemm_pack_b<float>(const GemmProblem<float>&, float*);
template void gemm_pack_b<double>(const GemmProblem<double>&, double*);
template void gemm_batched<float>(const GemmProblem<float>&, int64_t, int64_t, int64_t, int64_t);
template void gemm_batched<double>(const GemmProblem<double>&, int64_t, int64_t, int64_t, int64_t);
template double peak_gflops<float>(int);
template double peak_gflops<double>(int);

}  // namespace pyengine
