// The input and output transforms of the Winograd F(2x2, 3x3) convolution
// (winograd.cpp), compiled once per ISA. Their arithmetic runs across the
// `lanes` tiles of a panel, one vector operation per step.
#include <algorithm>
#include <type_traits>

#include "kernels/conv/conv.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// Where tile l of the panel lies: its tile row and column. Lanes past the
// image's last tile repeat that tile: the forward never stores their sums,
// and the weight gradient multiplies them by zero.
inline void tile_at(const WinogradPanel& p, int l, int64_t& ty, int64_t& tx) {
  const int64_t q = std::min(p.first_tile + l, p.tiles - 1);
  ty = q / p.tile_cols;
  tx = q % p.tile_cols;
}

// at[l] = where tile l's 4 x 4 (or 2 x 2) block starts in a plane of the
// panel's padded copy.
template <int lanes>
void tile_corners(const WinogradPanel& p, int64_t (&at)[lanes]) {
  for (int l = 0; l < lanes; ++l) {
    int64_t ty, tx;
    tile_at(p, l, ty, tx);
    at[l] = 2 * ty * p.pitch + 2 * tx;
  }
}

// Whether the W tiles from lane l on are consecutive tiles of one tile row:
// then their inputs, and their outputs, are runs along the image's rows.
inline bool in_one_row(const WinogradPanel& p, int l, int W) {
  const int64_t q = p.first_tile + l;
  return q < p.tiles && q % p.tile_cols + W <= p.tile_cols;
}

// V = B^T d B for the panel's tiles, one channel at a time:
//   B^T = [1  0 -1  0]     so a 4-wide row (d0 d1 d2 d3) becomes
//         [0  1  1  0]     (d0 - d2, d1 + d2, d2 - d1, d1 - d3),
//         [0 -1  1  0]     applied along the rows and then down the columns.
//         [0  1  0 -1]
// A vector of tiles in one tile row (every vector, in a map whose tile rows
// are a whole number of vectors; most, in a wide map) reads row[2l .. 2l + 3]
// of each input row for tile l: its even and odd values, and those one step
// on, in two de-interleaving loads. A vector that wraps onto the next tile row
// is read tile by tile.
template <typename T, int lanes>
void input_panel_of(const WinogradPanel& p, const T* xp, T* v, int64_t ld) {
  using V = Vec<T>;
  constexpr int W = V::size;
  int64_t at[lanes];
  tile_corners(p, at);
  bool runs[lanes / W];
  for (int l = 0; l < lanes; l += W) runs[l / W] = in_one_row(p, l, W);
  // Locals, not p's fields: a vector store may alias anything, and each
  // would make the compiler load the fields again.
  const int64_t channels = p.channels, plane_elems = p.rows * p.pitch, pitch = p.pitch, xi_stride = channels * ld;
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = xp + c * plane_elems;
    T* const vc = v + c * ld;  // v[((4i + j) * C + c) * ld + l]: product 4i + j's operand
    for (int l = 0; l < lanes; l += W) {
      V h[4][4];  // h[i][j]: input row i transformed along the row
      if (runs[l / W]) {
        for (int i = 0; i < 4; ++i) {
          const T* row = plane + at[l] + i * pitch;
          V d0, d1, d2, d3;
          V::load_even_odd(row, d0, d1);
          V::load_even_odd(row + 2, d2, d3);
          h[i][0] = d0 - d2;
          h[i][1] = d1 + d2;
          h[i][2] = d2 - d1;
          h[i][3] = d1 - d3;
        }
      } else {
        T hs[4][4][W];
        for (int i = 0; i < 4; ++i)
          for (int e = 0; e < W; ++e) {
            const T* d = plane + at[l + e] + i * pitch;
            hs[i][0][e] = d[0] - d[2];
            hs[i][1][e] = d[1] + d[2];
            hs[i][2][e] = d[2] - d[1];
            hs[i][3][e] = d[1] - d[3];
          }
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) h[i][j] = V::loadu(hs[i][j]);
      }
      for (int j = 0; j < 4; ++j) {
        (h[0][j] - h[2][j]).storeu(vc + (0 * 4 + j) * xi_stride + l);
        (h[1][j] + h[2][j]).storeu(vc + (1 * 4 + j) * xi_stride + l);
        (h[2][j] - h[1][j]).storeu(vc + (2 * 4 + j) * xi_stride + l);
        (h[1][j] - h[3][j]).storeu(vc + (3 * 4 + j) * xi_stride + l);
      }
    }
  }
}

// Y = A^T M A for output channel k of the panel's tiles:
//   A^T = [1  1  1  0]     so (m0 m1 m2 m3) becomes (m0 + m1 + m2, m1 - m2 - m3),
//         [0  1 -1 -1]     down the columns and then along the rows,
// plus the bias; tile (ty, tx)'s 2 x 2 outputs go to rows 2ty, 2ty + 1 and
// columns 2tx, 2tx + 1 of y, those that lie inside the map.
template <typename T, int lanes>
bool output_panel_of(const WinogradPanel& p, const T* m, T bias, int64_t out_h, int64_t out_w, T* y) {
  T r[2][4][lanes], out[2][2][lanes];
  for (int j = 0; j < 4; ++j) {
    const T* m0 = m + (0 * 4 + j) * lanes;
    const T* m1 = m + (1 * 4 + j) * lanes;
    const T* m2 = m + (2 * 4 + j) * lanes;
    const T* m3 = m + (3 * 4 + j) * lanes;
    for (int l = 0; l < lanes; ++l) {
      r[0][j][l] = m0[l] + m1[l] + m2[l];
      r[1][j][l] = m1[l] - m2[l] - m3[l];
    }
  }
  for (int a = 0; a < 2; ++a)
    for (int l = 0; l < lanes; ++l) {
      out[a][0][l] = r[a][0][l] + r[a][1][l] + r[a][2][l] + bias;
      out[a][1][l] = r[a][1][l] - r[a][2][l] - r[a][3][l] + bias;
    }
  using V = Vec<T>;
  constexpr int W = V::size;
  // x * 0 is 0 for a finite x and NaN for an infinite or NaN one, and a NaN
  // stays in the sum: one FMA per vector finds any non-finite output.
  V probe = V::zero();
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 2; ++b)
      for (int l = 0; l < lanes; l += W) probe = fmadd(V::loadu(&out[a][b][l]), V::zero(), probe);
  for (int l = 0; l < lanes; l += W) {
    int64_t ty, tx;
    tile_at(p, l, ty, tx);
    if (in_one_row(p, l, W)) {
      // Two runs of 2W outputs, those inside the map.
      const int64_t cols = std::min<int64_t>(2 * W, out_w - 2 * tx);
      for (int a = 0; a < 2 && 2 * ty + a < out_h; ++a) {
        T run[2 * W];
        T* const dst = y + (2 * ty + a) * out_w + 2 * tx;
        T* const to = cols == 2 * W ? dst : run;  // a run cut by the map's edge goes through run
        for (int e = 0; e < W; ++e) {
          to[2 * e] = out[a][0][l + e];
          to[2 * e + 1] = out[a][1][l + e];
        }
        if (to == run)
          for (int64_t q = 0; q < cols; ++q) dst[q] = run[q];
      }
      continue;
    }
    const int stored = static_cast<int>(std::min<int64_t>(W, p.tiles - p.first_tile - l));
    for (int e = 0; e < stored; ++e) {
      tile_at(p, l + e, ty, tx);
      const int64_t oh = 2 * ty, ow = 2 * tx;
      const bool right = ow + 1 < out_w;
      T* row = y + oh * out_w + ow;
      row[0] = out[0][0][l + e];
      if (right) row[1] = out[0][1][l + e];
      if (oh + 1 < out_h) {
        row[out_w] = out[1][0][l + e];
        if (right) row[out_w + 1] = out[1][1][l + e];
      }
    }
  }
  return probe.reduce_add() == T(0);
}

// The weight gradient's transform of the output gradient, Y = A dY A^T for
// the panel's tiles, every output channel: A = [1 0; 1 1; 1 -1; 0 -1], so a
// pair (a, b) becomes (a, a + b, a - b, -b), down the columns and then along
// the rows. Tile (ty, tx) reads rows 2ty, 2ty + 1 and columns 2tx, 2tx + 1 of
// dyp (channels, rows, pitch), zero past the map. Lanes past the image's last
// tile are zero, so they add nothing to the weight gradient.
template <typename T, int lanes>
void output_grad_panel_of(const WinogradPanel& p, const T* dyp, T* ydy, int64_t ld) {
  using V = Vec<T>;
  constexpr int W = V::size;
  int64_t at[lanes];
  tile_corners(p, at);
  bool runs[lanes / W];
  for (int l = 0; l < lanes; l += W) runs[l / W] = in_one_row(p, l, W);
  const int valid = static_cast<int>(std::min<int64_t>(lanes, p.tiles - p.first_tile));
  const int64_t channels = p.channels, plane_elems = p.rows * p.pitch, pitch = p.pitch, xi_stride = channels * ld;
  for (int64_t k = 0; k < channels; ++k) {
    const T* plane = dyp + k * plane_elems;
    T* const yk = ydy + k * ld;  // ydy[((4i + j) * K + k) * ld + l]
    for (int l = 0; l < lanes; l += W) {
      V d[2][2];  // d[a][b]: output (2ty + a, 2tx + b) of the vector's tiles
      if (runs[l / W]) {
        for (int a = 0; a < 2; ++a) V::load_even_odd(plane + at[l] + a * pitch, d[a][0], d[a][1]);
      } else {
        T ds[2][2][W];
        for (int e = 0; e < W; ++e)
          for (int a = 0; a < 2; ++a)
            for (int b = 0; b < 2; ++b) ds[a][b][e] = plane[at[l + e] + a * pitch + b];
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b) d[a][b] = V::loadu(ds[a][b]);
      }
      // A dY: rows (d0, d0 + d1, d0 - d1, -d1), each a pair of columns.
      const V zero = V::zero();
      const V col[4][2] = {{d[0][0], d[0][1]},
                           {d[0][0] + d[1][0], d[0][1] + d[1][1]},
                           {d[0][0] - d[1][0], d[0][1] - d[1][1]},
                           {zero - d[1][0], zero - d[1][1]}};
      for (int i = 0; i < 4; ++i) {
        const V a = col[i][0], b = col[i][1];
        a.storeu(yk + (i * 4 + 0) * xi_stride + l);
        (a + b).storeu(yk + (i * 4 + 1) * xi_stride + l);
        (a - b).storeu(yk + (i * 4 + 2) * xi_stride + l);
        (zero - b).storeu(yk + (i * 4 + 3) * xi_stride + l);
      }
    }
    for (int xi = 0; xi < 16; ++xi)
      for (int l = valid; l < lanes; ++l) yk[xi * xi_stride + l] = T(0);
  }
}

// The lane count is the GEMM's NR, a constant to the compiler, which then
// keeps each step's vectors in registers: 16, 8 or 4, a whole number of
// vectors (handles_lanes, which uses_winograd asks).
template <typename T>
bool handles_lanes(int lanes) {
  constexpr int W = Vec<T>::size;
  return (lanes == 16 || lanes == 8 || lanes == 4) && lanes % W == 0;
}

template <typename T, typename F>
auto with_lanes(int lanes, const F& run) {
  constexpr int W = Vec<T>::size;
  if constexpr (W <= 4) if (lanes == 4) return run(std::integral_constant<int, 4>{});
  if constexpr (W <= 8) if (lanes == 8) return run(std::integral_constant<int, 8>{});
  return run(std::integral_constant<int, 16>{});
}

template <typename T>
void input_panel(const WinogradPanel& p, const T* xp, T* v, int64_t ld) {
  with_lanes<T>(p.lanes, [&](auto lanes) { input_panel_of<T, decltype(lanes)::value>(p, xp, v, ld); });
}

template <typename T>
void output_grad_panel(const WinogradPanel& p, const T* dyp, T* ydy, int64_t ld) {
  with_lanes<T>(p.lanes, [&](auto lanes) { output_grad_panel_of<T, decltype(lanes)::value>(p, dyp, ydy, ld); });
}

template <typename T>
bool output_panel(const WinogradPanel& p, const T* m, T bias, int64_t out_h, int64_t out_w, T* y) {
  return with_lanes<T>(p.lanes, [&](auto lanes) {
    return output_panel_of<T, decltype(lanes)::value>(p, m, bias, out_h, out_w, y);
  });
}

template <typename T>
constexpr WinogradKernels<T> make_winograd_kernels() {
  return {handles_lanes<T>, input_panel<T>, output_panel<T>, output_grad_panel<T>};
}

}  // namespace

extern const WinogradTable winograd_table = {make_winograd_kernels<float>(), make_winograd_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
