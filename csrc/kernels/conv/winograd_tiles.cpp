// The input and output transforms of the Winograd F(2x2, 3x3) convolution
// (winograd.cpp), compiled once per ISA. Their arithmetic runs across the
// `lanes` tiles of a panel, one vector operation per step; only the reads of
// each tile's input and the stores of its outputs go tile by tile.
#include <algorithm>

#include "kernels/conv/conv.h"
#include "simd/vec.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// Where tile l of the panel lies: its tile row and column. Lanes past the
// image's last tile repeat that tile (their sums are computed and never stored).
inline void tile_at(const WinogradPanel& p, int l, int64_t& ty, int64_t& tx) {
  const int64_t q = std::min(p.first_tile + l, p.tiles - 1);
  ty = q / p.tile_cols;
  tx = q % p.tile_cols;
}

// V = B^T d B for the panel's tiles, one channel at a time:
//   B^T = [1  0 -1  0]     so a 4-wide row (d0 d1 d2 d3) becomes
//         [0  1  1  0]     (d0 - d2, d1 + d2, d2 - d1, d1 - d3),
//         [0 -1  1  0]     applied along the rows and then down the columns.
//         [0  1  0 -1]
template <typename T, int lanes>
void input_panel_of(const WinogradPanel& p, const T* xp, T* v) {
  int64_t at[lanes];  // tile l's top left corner in a padded plane
  for (int l = 0; l < lanes; ++l) {
    int64_t ty, tx;
    tile_at(p, l, ty, tx);
    at[l] = 2 * ty * p.pitch + 2 * tx;
  }
  // When the lanes are consecutive tiles of one tile row (a map at least
  // `lanes` tiles wide, mostly), tile l reads row[2l .. 2l + 3] of each input
  // row: its even and odd values, and those one step on, two de-interleaving
  // loads per vector of tiles. Tiles that wrap onto the next row are read
  // one by one.
  using V = Vec<T>;
  constexpr int W = V::size;
  const bool one_row = p.first_tile % p.tile_cols + lanes <= p.tile_cols;
  // Locals, not p's fields: a vector store may alias anything, and each
  // would make the compiler load the fields again.
  const int64_t channels = p.channels, plane_elems = p.rows * p.pitch, pitch = p.pitch, xi_stride = channels * lanes;
  T h[4][4][lanes];  // h[i][j]: input row i transformed along the row (the wrapping case)
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = xp + c * plane_elems;
    // v[(4i + j) * C + c] (lanes), the B operand of product 4i + j.
    T* const vc = v + c * lanes;
    const auto store_columns = [&](int l, const V (&hv)[4][4]) {
      for (int j = 0; j < 4; ++j) {
        (hv[0][j] - hv[2][j]).storeu(vc + (0 * 4 + j) * xi_stride + l);
        (hv[1][j] + hv[2][j]).storeu(vc + (1 * 4 + j) * xi_stride + l);
        (hv[2][j] - hv[1][j]).storeu(vc + (2 * 4 + j) * xi_stride + l);
        (hv[1][j] - hv[3][j]).storeu(vc + (3 * 4 + j) * xi_stride + l);
      }
    };
    if (one_row) {
      for (int l = 0; l < lanes; l += W) {
        V hv[4][4];
        for (int i = 0; i < 4; ++i) {
          const T* row = plane + at[0] + i * pitch + 2 * l;
          V d0, d1, d2, d3;
          V::load_even_odd(row, d0, d1);
          V::load_even_odd(row + 2, d2, d3);
          hv[i][0] = d0 - d2;
          hv[i][1] = d1 + d2;
          hv[i][2] = d2 - d1;
          hv[i][3] = d1 - d3;
        }
        store_columns(l, hv);
      }
      continue;
    }
    for (int i = 0; i < 4; ++i)
      for (int l = 0; l < lanes; ++l) {
        const T* d = plane + at[l] + i * pitch;
        h[i][0][l] = d[0] - d[2];
        h[i][1][l] = d[1] + d[2];
        h[i][2][l] = d[2] - d[1];
        h[i][3][l] = d[1] - d[3];
      }
    for (int l = 0; l < lanes; l += W) {
      V hv[4][4];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) hv[i][j] = V::loadu(&h[i][j][l]);
      store_columns(l, hv);
    }
  }
}

// Y = A^T M A for output channel k of the panel's tiles:
//   A^T = [1  1  1  0]     so (m0 m1 m2 m3) becomes (m0 + m1 + m2, m1 - m2 - m3),
//         [0  1 -1 -1]     down the columns and then along the rows,
// plus the bias; tile (ty, tx)'s 2 x 2 outputs go to rows 2ty, 2ty + 1 and
// columns 2tx, 2tx + 1 of y, those that lie inside the map.
template <typename T, int lanes>
void output_panel_of(const WinogradPanel& p, const T* m, T bias, int64_t out_h, int64_t out_w, T* y) {
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
  int64_t ty, tx;
  tile_at(p, 0, ty, tx);
  if (tx + lanes <= p.tile_cols) {
    // One tile row: two runs of 2 * lanes outputs, those inside the map.
    const int64_t cols = std::min<int64_t>(2 * lanes, out_w - 2 * tx);
    for (int a = 0; a < 2 && 2 * ty + a < out_h; ++a) {
      T run[2 * lanes];
      T* const dst = y + (2 * ty + a) * out_w + 2 * tx;
      T* const to = cols == 2 * lanes ? dst : run;  // a run cut by the map's edge goes through run
      for (int l = 0; l < lanes; ++l) {
        to[2 * l] = out[a][0][l];
        to[2 * l + 1] = out[a][1][l];
      }
      if (to == run)
        for (int64_t q = 0; q < cols; ++q) dst[q] = run[q];
    }
    return;
  }
  const int stored = static_cast<int>(std::min<int64_t>(lanes, p.tiles - p.first_tile));
  for (int l = 0; l < stored; ++l) {
    tile_at(p, l, ty, tx);
    const int64_t oh = 2 * ty, ow = 2 * tx;
    const bool right = ow + 1 < out_w;
    T* row = y + oh * out_w + ow;
    row[0] = out[0][0][l];
    if (right) row[1] = out[0][1][l];
    if (oh + 1 < out_h) {
      row[out_w] = out[1][0][l];
      if (right) row[out_w + 1] = out[1][1][l];
    }
  }
}

// The lane count is the GEMM's NR (16, 8 or 4), a constant to the compiler,
// which then keeps each step's vectors in registers.
template <typename T>
void input_panel(const WinogradPanel& p, const T* xp, T* v) {
  switch (p.lanes) {
    case 16: return input_panel_of<T, 16>(p, xp, v);
    case 8: return input_panel_of<T, 8>(p, xp, v);
    default: return input_panel_of<T, 4>(p, xp, v);
  }
}

template <typename T>
void output_panel(const WinogradPanel& p, const T* m, T bias, int64_t out_h, int64_t out_w, T* y) {
  switch (p.lanes) {
    case 16: return output_panel_of<T, 16>(p, m, bias, out_h, out_w, y);
    case 8: return output_panel_of<T, 8>(p, m, bias, out_h, out_w, y);
    default: return output_panel_of<T, 4>(p, m, bias, out_h, out_w, y);
  }
}

template <typename T>
constexpr WinogradKernels<T> make_winograd_kernels() {
  return {input_panel<T>, output_panel<T>};
}

}  // namespace

extern const WinogradTable winograd_table = {make_winograd_kernels<float>(), make_winograd_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
