// The Winograd F(2x2, 3x3) convolution driver (the formula is in conv.h).
//
// Per image, the output is cut into tiles of 2 x 2, and the tiles, numbered
// row by row, into panels of NR consecutive tiles: a panel is one NR-column
// panel of B for each of the 16 products, so the GEMM micro-kernel reads the
// input transform's output as it is written. A chunk of panels runs
//
//   v (16, C, NR) per panel  = B^T d B                    input_panel
//   m[xi] (K, NR)            = U[xi] (K, C) @ v[xi]       16 products, packed micro-kernel
//   y 2 x 2 per tile         = A^T m A + bias             output_panel
//
// with the transformed weights U = G w G^T packed into MR-row panels once per
// call. Each tile's outputs come from its own chunk alone, so the bytes do
// not depend on how the threads share the chunks out. The weight gradient
// (winograd_weight_grad, below) runs the same input transform, a transform of
// the output gradient and 16 products contracting over the tiles.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/buffer.h"
#include "core/cpu.h"
#include "core/parallel.h"
#include "kernels/conv/conv.h"
#include "kernels/gemm/pack.h"
#include "kernels/gemm/ukernel.h"

namespace pyengine {
namespace {

// U = G w G^T of one 3x3 kernel, in double, rounded once:
//   G = [1    0    0  ]     so a column (w0 w1 w2) becomes
//       [1/2  1/2  1/2]     (w0, (w0 + w1 + w2) / 2, (w0 - w1 + w2) / 2, w2).
//       [1/2 -1/2  1/2]
//       [0    0    1  ]
template <typename T>
void transform_kernel(const T* w, T (&u)[16]) {
  const auto spread = [](double a, double b, double c, double* out) {
    out[0] = a;
    out[1] = (a + b + c) / 2;
    out[2] = (a - b + c) / 2;
    out[3] = c;
  };
  double cols[3][4];  // G w, column by column
  for (int s = 0; s < 3; ++s) spread(w[s], w[3 + s], w[6 + s], cols[s]);
  for (int i = 0; i < 4; ++i) {
    double row[4];
    spread(cols[0][i], cols[1][i], cols[2][i], row);
    for (int j = 0; j < 4; ++j) u[i * 4 + j] = static_cast<T>(row[j]);
  }
}

// U[xi] (K, C) for the 16 positions xi, each in MR-row panels (zero rows past
// K): upack[xi * u_elems + kp * MR * C + c * MR + i] = U[xi](kp * MR + i, c).
// A row of panels at a time, so that each U[xi] is written in runs rather
// than 16 values u_elems apart (1 MiB at C = K = 256, one L1 set for all 16).
template <typename T>
void pack_transformed_weight(const T* w, int64_t K, int64_t C, int mr, int64_t u_elems, T* upack) {
  const int64_t k_panels = (K + mr - 1) / mr;
  parallel_for(0, k_panels, 1, [&](int64_t kp0, int64_t kp1) {
    std::vector<T> block(16 * mr * C);  // block[(xi * C + c) * mr + i]
    for (int64_t kp = kp0; kp < kp1; ++kp) {
      for (int i = 0; i < mr; ++i)
        for (int64_t c = 0; c < C; ++c) {
          T u[16] = {};
          if (kp * mr + i < K) transform_kernel(w + ((kp * mr + i) * C + c) * 9, u);
          for (int xi = 0; xi < 16; ++xi) block[(xi * C + c) * mr + i] = u[xi];
        }
      for (int xi = 0; xi < 16; ++xi)
        std::copy(block.begin() + xi * C * mr, block.begin() + (xi + 1) * C * mr, upack + xi * u_elems + kp * mr * C);
    }
  });
}

// Rows of K per block of products: a block's sums (16 x kb x NR per panel)
// are still in L1/L2 when the output transform reads them back.
constexpr int64_t kKBlock = 24;
// Panels per chunk: each U panel is read once per chunk, so more panels read
// U (16 x K x C, 1 MiB at C = K = 128) fewer times; their transformed input
// (16 x C x NR each), read again for every block of K, fills half of L2 at
// most, like the GEMM's packed A (C = 64: 4 panels, 128: 2, 256: 1; within
// the noise of 1, 2 or 4 at 64, 10-15 % faster than 1 at 128, than 2 at 256).
constexpr int64_t kMaxPanelsPerChunk = 4;
// The transformed weight is 16 K x C, built at every call: a batch of fewer
// tiles than this does not earn it back. 7x7 maps of 512 channels (16 tiles
// an image) ran 0.45x, 0.66x and 0.73x the direct sum's speed at batch 1, 2
// and 4, and 1.27x at batch 8; 14x14 maps of 64 channels 0.93x at batch 1.
constexpr int64_t kMinTiles = 128;
// ... nor is a weight that outgrows the scratch pool's blocks (16 x 1024 x
// 1024 floats is 64 MiB) worth mapping afresh at every call.
constexpr int64_t kMaxWeightProduct = int64_t(1) << 20;

}  // namespace

template <typename T>
bool uses_winograd(const Conv2dShape& g) {
  const int64_t tiles = g.n * ((g.out_h + 1) / 2) * ((g.out_w + 1) / 2);
  return g.groups == 1 && g.r == 3 && g.s == 3 && g.stride_h == 1 && g.stride_w == 1 && g.dil_h == 1 &&
         g.dil_w == 1 && g.c >= 16 && g.k >= 16 && g.c * g.k <= kMaxWeightProduct && tiles >= kMinTiles &&
         winograd_kernels().get<T>().handles_lanes(gemm_kernels_for<T>().blocks.nr);
}

template <typename T>
bool winograd_forward(const Conv2dShape& g, const T* x, const T* w, const T* bias, T* y) {
  const GemmKernels<T>& kern = gemm_kernels_for<T>();
  const WinogradKernels<T>& transforms = winograd_kernels().get<T>();
  const int mr = kern.blocks.mr, nr = kern.blocks.nr;
  const int64_t C = g.c, K = g.k, P = g.out_plane();
  const int64_t tile_rows = (g.out_h + 1) / 2, tile_cols = (g.out_w + 1) / 2, tiles = tile_rows * tile_cols;
  const int64_t panels = (tiles + nr - 1) / nr;
  if (panels == 0 || g.n == 0) return true;  // no outputs (an input gradient's transposed shape can have none)
  // The padded copy of an image covers every tile, those that reach past the
  // map's last row or column too (they read zeros there, and their outputs
  // past the edge are never stored).
  const int64_t rows = 2 * tile_rows + 2, pitch = 2 * tile_cols + 2, image = C * rows * pitch;

  const int64_t k_panels = (K + mr - 1) / mr, u_elems = k_panels * mr * C;
  ScratchBuffer upack_buf(sizeof(T) * 16 * u_elems);
  T* const upack = upack_buf.as<T>();
  pack_transformed_weight(w, K, C, mr, u_elems, upack);

  const int64_t chunk_panels = std::clamp<int64_t>(
      static_cast<int64_t>(cpu_info().l2 / 2 / (sizeof(T) * 16 * C * nr)), 1, kMaxPanelsPerChunk);
  const int64_t chunks = (panels + chunk_panels - 1) / chunk_panels;
  const int64_t kb = std::max<int64_t>(mr, std::min<int64_t>(K, kKBlock) / mr * mr);  // whole register tiles
  const int64_t v_elems = 16 * C * nr, m_elems = 16 * kb * nr;  // per panel
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), g.n * chunks));
  const int64_t thread_elems = image + chunk_panels * (v_elems + m_elems);
  ScratchBuffer scratch(sizeof(T) * nt * thread_elems);  // per thread: xp, v, m
  for (int tid = 0; tid < nt; ++tid)
    std::memset(scratch.as<T>() + tid * thread_elems, 0, sizeof(T) * image);  // xp's borders stay zero
  std::vector<int64_t> held(nt, -1);  // the image whose copy is in each thread's xp
  std::vector<char> finite(nt, 1);    // each thread's outputs so far
  claim_image_chunks(g.n, chunks, nt, [&](int tid, int64_t n, int64_t chunk) {
    T* const xp = scratch.as<T>() + tid * thread_elems;  // (C, rows, pitch)
    T* const v = xp + image;
    T* const m = v + chunk_panels * v_elems;
    if (held[tid] != n) {
      for (int64_t c = 0; c < C; ++c)
        copy_padded_plane(x + n * C * g.h * g.w, c, g.h, g.w, g.pad_top, g.pad_left, rows, pitch, xp);
      held[tid] = n;
    }
    const int64_t q0 = chunk * chunk_panels, q1 = std::min(panels, q0 + chunk_panels);
    const auto panel = [&](int64_t q) { return WinogradPanel{C, rows, pitch, tiles, tile_cols, q * nr, nr}; };
    for (int64_t q = q0; q < q1; ++q) transforms.input_panel(panel(q), xp, v + (q - q0) * v_elems, nr);
    MicroTile<T> t;  // filled once: per call only the operands and rows change
    t.k = C;
    t.a_rs = 1;
    t.a_cs = mr;
    t.b_rs = nr;
    t.c_rs = 16 * nr;
    t.c_cs = 1;
    t.n = nr;
    for (int64_t k0 = 0; k0 < K; k0 += kb) {
      const int64_t k1 = std::min(K, k0 + kb);
      for (int xi = 0; xi < 16; ++xi)
        for (int64_t kp = k0 / mr; kp * mr < k1; ++kp)
          for (int64_t q = q0; q < q1; ++q) {
            // m[xi] rows kp*MR.. (MR, NR) = U[xi] panel (MR, C) @ v[xi] (C, NR); m is (kb, 16, NR) per panel
            t.a = upack + xi * u_elems + kp * mr * C;
            t.b = v + (q - q0) * v_elems + xi * C * nr;
            t.c = m + ((q - q0) * kb + kp * mr - k0) * 16 * nr + xi * nr;
            t.m = static_cast<int>(std::min<int64_t>(mr, K - kp * mr));
            kern.packed(t);
          }
      for (int64_t q = q0; q < q1; ++q)
        for (int64_t k = k0; k < k1; ++k)
          finite[tid] &= transforms.output_panel(panel(q), m + ((q - q0) * kb + k - k0) * 16 * nr,
                                                 bias ? bias[k] : T(0), g.out_h, g.out_w, y + (n * K + k) * P);
    }
  });
  return std::all_of(finite.begin(), finite.end(), [](char ok) { return ok; });
}

// Tiles per chunk of the weight gradient, in panels: the depth of each of the
// chunk's 16 products, whose operands (16 x C and 16 x K values per tile)
// stay in L2 between the transforms that write them and the products.
constexpr int64_t kWeightGradChunkPanels = 8;

template <typename T>
bool winograd_weight_grad(const Conv2dShape& g, const T* x, const T* dy, T* dw) {
  const WinogradKernels<T>& transforms = winograd_kernels().get<T>();
  const int nr = gemm_kernels_for<T>().blocks.nr;
  const int64_t C = g.c, K = g.k;
  const int64_t tile_rows = (g.out_h + 1) / 2, tile_cols = (g.out_w + 1) / 2, tiles = tile_rows * tile_cols;
  const int64_t panels = (tiles + nr - 1) / nr;
  const int64_t rows = 2 * tile_rows + 2, pitch = 2 * tile_cols + 2;   // x's padded copy
  const int64_t dy_rows = 2 * tile_rows, dy_pitch = 2 * tile_cols;     // dy's, zero past the map
  const int64_t chunks = (panels + kWeightGradChunkPanels - 1) / kWeightGradChunkPanels;
  const int64_t ld = kWeightGradChunkPanels * nr;  // tiles of a chunk, at most
  // A chunk holds one image's tiles, and each chunk loads and stores all of
  // z: images of fewer tiles than a chunk make short products that spend
  // their time on z (a 14 x 14 map of 256 channels, 49 tiles an image, ran
  // 0.9x the unfolded product's speed; 28 x 28 and 32 x 32 maps 1.3-1.4x).
  if (tiles < ld) return false;
  // The threads split K in whole NR-column panels and run on their own, with
  // no barrier: each transforms every chunk's input (16 x C per tile, a part
  // of the work every thread repeats) and its own channels of dy, and
  // computes its own columns of z. A barrier per phase kept both threads
  // waiting on whichever the shared machine had slowed. The products run on
  // the micro-kernel itself: each element of z is one FMA chain over a
  // chunk's tiles, added to z in batch order, whatever columns a thread owns
  // (a product of one column would have taken gemm's dot-form kernel), so the
  // bytes do not depend on the thread count.
  const GemmKernels<T>& kern = gemm_kernels_for<T>();
  const int mr = kern.blocks.mr;
  const int64_t k_panels = (K + nr - 1) / nr, c_panels = (C + mr - 1) / mr;
  const int nt = static_cast<int>(std::min<int64_t>(get_num_threads(), k_panels));
  const int64_t kt_max = (k_panels + nt - 1) / nt * nr;  // a thread's columns, at most
  const int64_t xp_elems = C * rows * pitch, dyp_elems = kt_max * dy_rows * dy_pitch;
  const int64_t v_elems = 16 * C * ld, ydy_elems = 16 * kt_max * ld, apack_elems = c_panels * mr * ld;
  const int64_t thread_elems = xp_elems + dyp_elems + v_elems + ydy_elems + apack_elems + kt_max * ld;
  ScratchBuffer scratch(sizeof(T) * (nt * thread_elems + 16 * C * K));
  T* const z = scratch.as<T>() + nt * thread_elems;  // z[xi] (C, K): the sums over the batch
  parallel_run(nt, [&](int tid, int team) {
    const int64_t k0 = std::min(K, split_begin(0, k_panels, team, tid) * nr);
    const int64_t k1 = std::min(K, split_begin(0, k_panels, team, tid + 1) * nr), kt = k1 - k0;
    T* const xp = scratch.as<T>() + tid * thread_elems;  // (C, rows, pitch)
    T* const dyp = xp + xp_elems;                        // (kt, dy_rows, dy_pitch): this thread's channels
    T* const v = dyp + dyp_elems;                        // v[xi] (C, ld): B^T d B of the chunk's tiles
    T* const ydy = v + v_elems;                          // ydy[xi] (kt, ld): A dY A^T
    T* const apack = ydy + ydy_elems;                    // v[xi] in MR-row panels
    T* const bpack = apack + apack_elems;                // ydy[xi]^T in NR-column panels
    std::memset(xp, 0, sizeof(T) * (xp_elems + dyp_elems));  // the borders stay zero from here on
    MicroTile<T> t;
    t.a_rs = 1;
    t.a_cs = mr;
    t.b_rs = nr;
    t.c_rs = K;
    t.c_cs = 1;
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t c = 0; c < C; ++c)
        copy_padded_plane(x + n * C * g.h * g.w, c, g.h, g.w, g.pad_top, g.pad_left, rows, pitch, xp);
      for (int64_t k = 0; k < kt; ++k)
        copy_padded_plane(dy + (n * K + k0) * g.out_plane(), k, g.out_h, g.out_w, int64_t(0), int64_t(0), dy_rows,
                          dy_pitch, dyp);
      for (int64_t chunk = 0; chunk < chunks; ++chunk) {
        const int64_t q0 = chunk * kWeightGradChunkPanels, q1 = std::min(panels, q0 + kWeightGradChunkPanels);
        const int64_t depth = (q1 - q0) * nr;  // the chunk's tiles
        for (int64_t q = q0; q < q1; ++q) {
          transforms.input_panel(WinogradPanel{C, rows, pitch, tiles, tile_cols, q * nr, nr}, xp, v + (q - q0) * nr,
                                 ld);
          transforms.output_grad_panel(WinogradPanel{kt, dy_rows, dy_pitch, tiles, tile_cols, q * nr, nr}, dyp,
                                       ydy + (q - q0) * nr, ld);
        }
        t.k = depth;
        t.beta = n == 0 && chunk == 0 ? T(0) : T(1);
        for (int xi = 0; xi < 16; ++xi) {
          // z[xi][:, k0:k1] (C, kt) (+)= v[xi] (C, depth) @ ydy[xi]^T (depth, kt)
          for (int64_t cp = 0; cp < c_panels; ++cp)
            pack_a_panel(depth, static_cast<int>(std::min<int64_t>(mr, C - cp * mr)), mr, v + (xi * C + cp * mr) * ld,
                         ld, int64_t(1), apack + cp * mr * depth);
          for (int64_t kp = 0; kp * nr < kt; ++kp)
            pack_b_panel(depth, static_cast<int>(std::min<int64_t>(nr, kt - kp * nr)), nr,
                         ydy + (xi * kt + kp * nr) * ld, int64_t(1), ld, bpack + kp * nr * depth);
          for (int64_t kp = 0; kp * nr < kt; ++kp)
            for (int64_t cp = 0; cp < c_panels; ++cp) {
              t.a = apack + cp * mr * depth;
              t.b = bpack + kp * nr * depth;
              t.c = z + (xi * C + cp * mr) * K + k0 + kp * nr;
              t.m = static_cast<int>(std::min<int64_t>(mr, C - cp * mr));
              t.n = static_cast<int>(std::min<int64_t>(nr, kt - kp * nr));
              kern.packed(t);
            }
        }
      }
    }
  });

  // dw_kc = G^T Z_kc G, G^T = [1 1/2 1/2 0; 0 1/2 -1/2 0; 0 1/2 1/2 1]: a
  // 4-vector z becomes (z0 + (z1 + z2) / 2, (z1 - z2) / 2, (z1 + z2) / 2 + z3).
  std::vector<char> finite(K, 1);
  parallel_for(0, K, 8, [&](int64_t k0, int64_t k1) {
    const auto gather = [](double z0, double z1, double z2, double z3, double* out) {
      out[0] = z0 + (z1 + z2) / 2;
      out[1] = (z1 - z2) / 2;
      out[2] = (z1 + z2) / 2 + z3;
    };
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t c = 0; c < C; ++c) {
        const auto at = [&](int i, int j) { return static_cast<double>(z[((i * 4 + j) * C + c) * K + k]); };
        double cols[4][3];  // Z G, row by row
        for (int i = 0; i < 4; ++i) gather(at(i, 0), at(i, 1), at(i, 2), at(i, 3), cols[i]);
        T* const out = dw + (k * C + c) * 9;
        for (int s = 0; s < 3; ++s) {
          double col[3];
          gather(cols[0][s], cols[1][s], cols[2][s], cols[3][s], col);
          for (int r = 0; r < 3; ++r) {
            out[r * 3 + s] = static_cast<T>(col[r]);
            finite[k] &= std::isfinite(out[r * 3 + s]);
          }
        }
      }
  });
  return std::all_of(finite.begin(), finite.end(), [](char ok) { return ok; });
}

template bool uses_winograd<float>(const Conv2dShape&);
template bool uses_winograd<double>(const Conv2dShape&);
template bool winograd_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template bool winograd_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);
template bool winograd_weight_grad<float>(const Conv2dShape&, const float*, const float*, float*);
template bool winograd_weight_grad<double>(const Conv2dShape&, const double*, const double*, double*);

}  // namespace pyengine
