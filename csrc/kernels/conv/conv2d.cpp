// 2-D convolution drivers: im2col + GEMM, GEMM + col2im, and the direct
// kernels for depthwise and few-channel layers.
//
// The forward and input-gradient passes that unfold their input cut the batch
// into chunks whose columns fit conv_scratch_budget(). Inside a chunk the
// images run in parallel with single-threaded GEMMs; a chunk of one image
// (batch 1, or an image too large for the budget, then cut by output rows)
// uses a threaded GEMM instead. The weight gradient unfolds a few rows at a
// time per thread (unfolded_weight_grad).
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <vector>

#include "core/buffer.h"
#include "core/cpu.h"
#include "core/parallel.h"
#include "kernels/conv/conv.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/pack.h"
#include "kernels/gemm/ukernel.h"

namespace pyengine {
namespace {

// 4 MiB: the columns a chunk writes are read straight back by its GEMM, and a
// chunk that stays in the last-level cache spares that second trip to memory
// (the MNIST layers' weight gradient, when it unfolded whole chunks, ran a
// quarter faster than with 64 MiB).
std::atomic<std::size_t> g_scratch_budget{std::size_t(4) << 20};

bool unpadded(const Conv2dShape& g) {
  return g.pad_top == 0 && g.pad_bottom == 0 && g.pad_left == 0 && g.pad_right == 0;
}

// A 1x1, stride-1, unpadded convolution reads x itself as its columns.
bool is_pointwise(const Conv2dShape& g) {
  return g.r == 1 && g.s == 1 && g.stride_h == 1 && g.stride_w == 1 && unpadded(g);
}

// Depthwise (one input plane per group): a direct kernel does R*S FMAs per
// output where im2col would run G tiny GEMMs of depth R*S.
bool is_depthwise(const Conv2dShape& g) { return g.groups > 1 && g.cg() == 1; }

// First layers (1-4 input channels, stride 1 along the row): im2col gives a
// GEMM of depth C*R*S <= 100 whose packing costs as much as its FMAs, and the
// weight gradient is a tall-skinny product that threads badly. The direct
// kernels vectorise over the output row instead.
bool is_few_channel(const Conv2dShape& g) { return g.groups == 1 && g.c <= 4 && g.stride_w == 1; }

bool uses_direct_kernels(const Conv2dShape& g) { return is_depthwise(g) || is_few_channel(g); }
// Ungrouped layers with unit stride along the row: their unfolded input need
// not be written at all (see indirect_forward).
bool uses_indirect_forward(const Conv2dShape& g) { return g.groups == 1 && g.stride_w == 1; }

// A pointwise layer's output plane is its input plane, so it can be seen as
// one row of H*W: register tiles of NR outputs then run along the whole
// plane, where rows of 28 would fill 28 of every 32 lanes.
Conv2dShape as_one_row(const Conv2dShape& g) {
  Conv2dShape row = g;
  row.w = g.h * g.w;
  row.h = 1;
  return row.with_output_size();
}

// Images per chunk and output rows per chunk (all rows when whole images fit).
struct ChunkPlan {
  int64_t images, rows;
};

// bytes_per_column: scratch bytes each output position needs (its column of
// the unfolded input).
ChunkPlan plan_chunks(const Conv2dShape& g, int64_t bytes_per_column) {
  const int64_t budget = static_cast<int64_t>(conv_scratch_budget());
  const int64_t image_bytes = std::max<int64_t>(1, bytes_per_column * g.out_plane());
  if (image_bytes <= budget) {
    // Equal chunks, so the last one is not a straggler that leaves threads idle.
    const int64_t max_images = budget / image_bytes;
    const int64_t chunks = (g.n + max_images - 1) / max_images;
    return {std::max<int64_t>(1, (g.n + chunks - 1) / std::max<int64_t>(chunks, 1)), g.out_h};
  }
  return {1, std::max<int64_t>(1, budget / std::max<int64_t>(1, bytes_per_column * g.out_w))};
}

// Calls fn(n0, nb, oh0, oh1) for each chunk: images [n0, n0 + nb), output rows [oh0, oh1).
template <typename F>
void for_each_chunk(const Conv2dShape& g, const ChunkPlan& plan, const F& fn) {
  for (int64_t n0 = 0; n0 < g.n; n0 += plan.images) {
    const int64_t nb = std::min(plan.images, g.n - n0);
    for (int64_t oh0 = 0; oh0 < g.out_h; oh0 += plan.rows) fn(n0, nb, oh0, std::min(g.out_h, oh0 + plan.rows));
  }
}

// fn(i, threaded) for the nb images of a chunk: in parallel with serial GEMMs,
// or, for a single image, inline with a threaded GEMM.
template <typename F>
void run_images(int64_t nb, const F& fn) {
  if (nb == 1) {
    fn(int64_t(0), true);
    return;
  }
  parallel_for(0, nb, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i, false);
  });
}

template <typename T>
GemmProblem<T> product(int64_t m, int64_t n, int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                       int64_t b_rs, int64_t b_cs, T* c, int64_t c_rs, bool threaded) {
  GemmProblem<T> p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = a;
  p.a_rs = a_rs;
  p.a_cs = a_cs;
  p.b = b;
  p.b_rs = b_rs;
  p.b_cs = b_cs;
  p.c = c;
  p.c_rs = c_rs;
  p.c_cs = 1;
  p.threaded = threaded;
  return p;
}

// Copies one image's group planes into a zero-bordered buffer, or returns the
// planes themselves when the layer has no padding.
template <typename T>
const T* padded_planes(const Conv2dShape& g, const T* x, int64_t planes, T* buffer) {
  if (unpadded(g)) return x;
  const int64_t hp = g.padded_h(), wp = g.padded_w();
  std::memset(buffer, 0, sizeof(T) * planes * hp * wp);
  for (int64_t c = 0; c < planes; ++c) copy_padded_plane(x, c, g.h, g.w, g.pad_top, g.pad_left, hp, wp, buffer);
  return buffer;
}

// Output channels per work item of the few-channel direct kernels: enough to
// amortise re-padding the (at most 4) input planes, small enough to balance threads.
constexpr int64_t kDirectChannelBlock = 16;

// The weight gradient's blocks: each is one thread's whole sum over the
// images, so there must be one for every thread (16-channel blocks would put
// a first layer of 16 channels on one thread), in whole multiples of the
// kernel's own blocking of four channels.
int64_t weight_grad_block(const Conv2dShape& g) {
  const int64_t per_thread = (g.kg() + get_num_threads() - 1) / get_num_threads();
  return std::max<int64_t>(4, (per_thread + 3) / 4 * 4);
}

// Work items of the direct kernels: (group, output channel range) blocks.
struct ChannelBlock {
  int64_t group, k0, k1;
};
std::vector<ChannelBlock> channel_blocks(const Conv2dShape& g, int64_t channels_per_block) {
  std::vector<ChannelBlock> blocks;
  const int64_t step = is_depthwise(g) ? g.kg() : channels_per_block;
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t k = grp * g.kg(); k < (grp + 1) * g.kg(); k += step)
      blocks.push_back({grp, k, std::min(k + step, (grp + 1) * g.kg())});
  return blocks;
}

// One padded copy of a group's planes per thread.
int64_t padded_group_elems(const Conv2dShape& g) {
  return g.cg() * g.padded_h() * g.padded_w();
}

template <typename T>
void direct_forward(const Conv2dShape& g, const T* x, const T* w, const T* bias, T* y) {
  const auto& kern = direct_conv_kernels().get<T>();
  const std::vector<ChannelBlock> blocks = channel_blocks(g, kDirectChannelBlock);
  const int64_t nblocks = static_cast<int64_t>(blocks.size());
  const int64_t items = g.n * nblocks;
  const int64_t plane_elems = padded_group_elems(g);
  const int nthreads = static_cast<int>(std::min<int64_t>(items, get_num_threads()));
  ScratchBuffer scratch(sizeof(T) * plane_elems * nthreads);
  parallel_run(nthreads, [&](int tid, int nt) {
    T* buffer = scratch.as<T>() + tid * plane_elems;
    for (int64_t item = split_begin(0, items, nt, tid); item < split_begin(0, items, nt, tid + 1); ++item) {
      const int64_t n = item / nblocks;
      const ChannelBlock& b = blocks[item % nblocks];
      const T* xg = x + (n * g.c + b.group * g.cg()) * g.h * g.w;  // (C/G, H, W)
      const T* xp = padded_planes(g, xg, g.cg(), buffer);             // (C/G, Hp, Wp)
      kern.forward(g, xp, w, bias, b.k0, b.k1, y + n * g.k * g.out_plane());
    }
  });
}

// The weight gradient of the direct path: each channel block belongs to one
// thread, which adds the images in order 0..N-1.
template <typename T>
void direct_backward_weight(const Conv2dShape& g, const T* x, const T* dy, T* dw) {
  const auto& kern = direct_conv_kernels().get<T>();
  const std::vector<ChannelBlock> blocks = channel_blocks(g, weight_grad_block(g));
  const int64_t nblocks = static_cast<int64_t>(blocks.size());
  const int64_t plane_elems = padded_group_elems(g);
  std::memset(dw, 0, sizeof(T) * g.k * g.cg() * g.taps());
  const int nthreads = static_cast<int>(std::min<int64_t>(nblocks, get_num_threads()));
  ScratchBuffer scratch(sizeof(T) * plane_elems * nthreads);
  parallel_run(nthreads, [&](int tid, int nt) {
    T* buffer = scratch.as<T>() + tid * plane_elems;
    const int64_t b0 = split_begin(0, nblocks, nt, tid), b1 = split_begin(0, nblocks, nt, tid + 1);
    // Image by image, each of this thread's blocks in turn: an image's planes
    // are padded once per group, not once per block.
    for (int64_t n = 0; n < g.n; ++n) {
      const T* xp = nullptr;
      for (int64_t bi = b0, padded_group = -1; bi < b1; ++bi) {
        const ChannelBlock& b = blocks[bi];
        if (b.group != padded_group) {
          xp = padded_planes(g, x + (n * g.c + b.group * g.cg()) * g.h * g.w, g.cg(), buffer);
          padded_group = b.group;
        }
        kern.weight_grad(g, xp, dy + n * g.k * g.out_plane(), b.k0, b.k1, dw);
      }
    }
  });
}

// Depthwise input gradient: each input plane gathers its m = K/G output
// planes into a zero-bordered buffer whose interior is the gradient.
template <typename T>
void depthwise_backward_input(const Conv2dShape& g, const T* dy, const T* w, T* dx) {
  const auto& kern = direct_conv_kernels().get<T>();
  const int64_t hp = g.padded_h(), wp = g.padded_w(), plane = hp * wp;
  const int64_t items = g.n * g.c;
  const int nthreads = static_cast<int>(std::min<int64_t>(items, get_num_threads()));
  ScratchBuffer scratch(sizeof(T) * plane * nthreads);
  parallel_run(nthreads, [&](int tid, int nt) {
    T* dxp = scratch.as<T>() + tid * plane;
    for (int64_t item = split_begin(0, items, nt, tid); item < split_begin(0, items, nt, tid + 1); ++item) {
      const int64_t n = item / g.c, c = item % g.c;
      std::memset(dxp, 0, sizeof(T) * plane);
      for (int64_t k = c * g.kg(); k < (c + 1) * g.kg(); ++k)
        kern.input_grad_plane(g, dy + (n * g.k + k) * g.out_plane(), w + k * g.taps(), dxp);
      T* out = dx + item * g.h * g.w;
      for (int64_t ih = 0; ih < g.h; ++ih)
        std::memcpy(out + ih * g.w, dxp + (ih + g.pad_top) * wp + g.pad_left, sizeof(T) * g.w);
    }
  });
}

// Forward without im2col. Row p = (c, r, s) of the unfolded input, at the
// outputs (oh, ow..ow+NR), is the padded input plane c, row oh*stride_h +
// r*dil_h, columns ow + s*dil_w ..: NR consecutive values of the image. So the
// GEMM micro-kernel reads B straight from the padded image through one offset
// per tap (its `indirect` form), A is the weight in MR-row panels packed once
// per call, and each register tile of C is MR channels x NR outputs (6 x 16
// floats on AVX2), stored where NCHW puts them. Nothing is unfolded, and the
// only copy is the padding of each image.
//
// The padded rows are `pitch` = W + max(pad_left, pad_right) apart: a row's
// right padding is the next row's left padding. A tile covers NR outputs of
// one output row (row tiles), or, at unit stride_h when that takes fewer
// tiles, NR consecutive positions of the grid of out_h rows of `pitch`
// columns (grid tiles), whose columns from out_w on are computed and never
// stored: 28-wide rows fill 28 of every 32 lanes as row tiles and 28 of 29 as
// grid tiles (51 tiles per 28 x 28 map instead of 56). Each output is the
// same FMA chain either way.
template <typename T>
void indirect_forward(const Conv2dShape& shape, const T* x, const T* w, const T* bias, T* y) {
  const Conv2dShape g = is_pointwise(shape) ? as_one_row(shape) : shape;
  const GemmKernels<T>& kern = gemm_kernels_for<T>();
  const int mr = kern.blocks.mr, nr = kern.blocks.nr;
  const int64_t crs = g.c * g.taps(), P = g.out_plane();
  const int64_t hp = g.padded_h(), pitch = g.w + std::max(g.pad_left, g.pad_right);
  const int64_t k_panels = (g.k + mr - 1) / mr;
  ScratchBuffer w_buf(sizeof(T) * k_panels * mr * crs);
  T* const wpack = w_buf.as<T>();  // (K, C*R*S) in MR-row panels, zero past K
  for (int64_t kp = 0; kp < k_panels; ++kp)
    pack_a_panel(crs, static_cast<int>(std::min<int64_t>(mr, g.k - kp * mr)), mr, w + kp * mr * crs, crs,
                 int64_t(1), wpack + kp * mr * crs);
  ScratchBuffer offsets_buf(sizeof(int64_t) * crs);
  int64_t* const offsets = offsets_buf.as<int64_t>();  // tap (c, r, s) -> its row in the padded image
  for (int64_t c = 0; c < g.c; ++c)
    for (int64_t r = 0; r < g.r; ++r)
      for (int64_t s = 0; s < g.s; ++s)
        offsets[(c * g.r + r) * g.s + s] = (c * hp + r * g.dil_h) * pitch + s * g.dil_w;
  // Each image padded into a buffer with a padded row and NR values of
  // slack: a tile reads up to NR - 1 positions past its last output, and
  // the right padding of the last row lies past the last pitch.
  const int64_t image = g.c * hp * pitch;
  const int64_t col_tiles = (g.out_w + nr - 1) / nr;
  const int64_t grid_tiles = (g.out_h * pitch + nr - 1) / nr;
  const bool grid = g.stride_h == 1 && g.out_w <= pitch && grid_tiles < g.out_h * col_tiles;
  const int64_t tiles = grid ? grid_tiles : g.out_h * col_tiles;
  if (tiles == 0) return;  // no outputs (an input gradient's transposed shape can have none)
  // Where tile i reads B (an offset into the padded image) and where its
  // outputs start in an output plane, or -1 for a grid tile whose lanes are
  // not one run of an output row (stored through store_runs).
  struct TilePlace {
    int64_t b_at, y_at;
    int n;
  };
  const auto place = [&](int64_t i) -> TilePlace {
    if (!grid) {
      const int64_t oh = i / col_tiles, ow = i % col_tiles * nr;
      return {oh * g.stride_h * pitch + ow, oh * g.out_w + ow, static_cast<int>(std::min<int64_t>(nr, g.out_w - ow))};
    }
    const int64_t q0 = i * nr, oh = q0 / pitch, ow = q0 % pitch;
    return {q0, ow + nr <= g.out_w ? oh * g.out_w + ow : -1, nr};
  };
  // The lanes of grid tile q0 (a tile of m rows, nr apart in buf) that are
  // outputs, run by run of one output row, into the planes at yk.
  const auto store_runs = [&](const T* buf, int m, int64_t q0, T* yk) {
    for (int64_t j = 0; j < nr;) {
      const int64_t oh = (q0 + j) / pitch, ow = (q0 + j) % pitch;
      if (oh >= g.out_h) return;
      if (ow >= g.out_w) {
        j += pitch - ow;
        continue;
      }
      const int64_t len = std::min<int64_t>(nr - j, g.out_w - ow);
      for (int i = 0; i < m; ++i) std::copy(buf + i * nr + j, buf + i * nr + j + len, yk + i * P + oh * g.out_w + ow);
      j += len;
    }
  };
  // Even an unpadded image is copied: the copy is one sequential pass that
  // leaves the image in L2, where the tiles read C*R*S rows of it at once,
  // too many streams for the hardware prefetcher (reading a pointwise
  // layer's input in place measured 5-10 % slower).
  const auto copy_image = [&](int64_t n, T* xp) {
    for (int64_t c = 0; c < g.c; ++c)
      copy_padded_plane(x + n * g.c * g.h * g.w, c, g.h, g.w, g.pad_top, g.pad_left, hp, pitch, xp);
  };
  // Tiles [i0, i1) of image n, whose padded copy is at xp; runs_buf holds a
  // grid tile's lanes before store_runs (MR x NR values, or none).
  const auto run_tiles = [&](int64_t n, const T* xp, int64_t i0, int64_t i1, T* runs_buf) {
    for (int64_t i = i0; i < i1; ++i) {
      const TilePlace at = place(i);
      for (int64_t kp = 0; kp < k_panels; ++kp) {
        const int64_t k0 = kp * mr;
        T* const yk = y + (n * g.k + k0) * P;
        // y[n, k0:k0+MR, outputs of tile i] = wpack panel (MR, C*R*S) @ B (C*R*S, NR) + bias
        MicroTile<T> t;
        t.k = crs;
        t.a = wpack + k0 * crs;
        t.a_rs = 1;
        t.a_cs = mr;
        t.b = xp + at.b_at;  // B(p, j) = t.b[offsets[p] + j]
        t.b_rows = offsets;
        t.c = at.y_at >= 0 ? yk + at.y_at : runs_buf;
        t.c_rs = at.y_at >= 0 ? P : nr;
        t.c_cs = 1;
        t.m = static_cast<int>(std::min<int64_t>(mr, g.k - k0));
        t.n = at.n;
        t.epilogue.bias_m = bias ? bias + k0 : nullptr;
        kern.indirect(t);
        if (at.y_at < 0) store_runs(runs_buf, t.m, at.b_at, yk);
      }
    }
  };
  const size_t runs_elems = grid ? static_cast<size_t>(mr) * nr : 0;
  const int64_t buffer_elems = image + g.padded_w() + nr;
  // Each element of y is one kernel call's, so how the work is shared out
  // does not change the bytes. A batch of at least two images per thread
  // runs whole images in parallel, each thread with its own buffer: one
  // parallel region for the batch, where sharing out each image's tiles
  // (14 output rows for a 14 x 14 map) meets the threads once per image.
  // A smaller batch shares out each image's tiles when there are enough to
  // balance the threads (a long conv1d row too).
  const int threads = get_num_threads();
  if (g.n > 1 && (g.n >= 2 * threads || tiles < 4 * threads)) {
    const int nt = static_cast<int>(std::min<int64_t>(threads, g.n));
    const int64_t tile_fmas = std::max<int64_t>(int64_t(1), k_panels * mr * nr * crs);
    const int64_t chunk = std::min(tiles, std::max<int64_t>(1, (int64_t(1) << 18) / tile_fmas));  // ~5-10 us of FMAs
    const int64_t chunks = (tiles + chunk - 1) / chunk;
    ScratchBuffer buf(sizeof(T) * buffer_elems * nt);
    std::memset(buf.as<T>(), 0, sizeof(T) * buffer_elems * nt);  // the borders stay zero from here on
    std::vector<int64_t> held(nt, -1);  // the image whose copy is in each thread's buffer
    std::vector<T> runs_buf(runs_elems * nt);
    claim_image_chunks(g.n, chunks, nt, [&](int tid, int64_t n, int64_t c) {
      T* const xp = buf.as<T>() + tid * buffer_elems;
      if (held[tid] != n) copy_image(n, xp), held[tid] = n;
      run_tiles(n, xp, c * chunk, std::min(tiles, (c + 1) * chunk), runs_buf.data() + tid * runs_elems);
    });
    return;
  }
  ScratchBuffer buf(sizeof(T) * buffer_elems);
  T* const xp = buf.as<T>();
  std::memset(xp, 0, sizeof(T) * buffer_elems);  // the borders stay zero from here on
  for (int64_t n = 0; n < g.n; ++n) {
    copy_image(n, xp);
    parallel_for(0, tiles, 1, [&](int64_t i0, int64_t i1) {
      std::vector<T> runs_buf(runs_elems);
      run_tiles(n, xp, i0, i1, runs_buf.data());
    });
  }
}

// The input gradient at unit stride is itself a convolution: of dy padded by
// (span - 1 - pad) on each side, with K and C exchanged inside each group and
// the kernel flipped in r and s. For depthwise and few-channel layers the
// direct forward kernel then keeps the FMA units busy where GEMM + col2im
// would fold many tiny rows; for other ungrouped layers the indirect forward
// spares writing and folding back the whole unfolded gradient.
bool input_grad_as_convolution(const Conv2dShape& g) {
  return (uses_direct_kernels(g) || uses_indirect_forward(g)) && g.stride_h == 1 && g.stride_w == 1 &&
         g.pad_top < g.span_h() && g.pad_bottom < g.span_h() && g.pad_left < g.span_w() && g.pad_right < g.span_w();
}

template <typename T>
void backward_input_as_convolution(const Conv2dShape& g, const T* dy, const T* w, T* dx) {
  Conv2dShape t = g;
  t.c = g.k;
  t.h = g.out_h;
  t.w = g.out_w;
  t.k = g.c;
  t.pad_top = g.span_h() - 1 - g.pad_top;
  t.pad_bottom = g.span_h() - 1 - g.pad_bottom;
  t.pad_left = g.span_w() - 1 - g.pad_left;
  t.pad_right = g.span_w() - 1 - g.pad_right;
  t = t.with_output_size();  // (H, W)
  const int64_t cg = g.cg(), kg = g.kg();
  ScratchBuffer flipped(sizeof(T) * g.c * kg * g.taps());
  T* wt = flipped.as<T>();  // wt[c, j, r, s] = w[grp*K/G + j, c - grp*C/G, R-1-r, S-1-s], grp = c / (C/G)
  for (int64_t c = 0; c < g.c; ++c) {
    const int64_t grp = c / cg;
    for (int64_t j = 0; j < kg; ++j)
      for (int64_t r = 0; r < g.r; ++r)
        for (int64_t s = 0; s < g.s; ++s)
          wt[((c * kg + j) * g.r + r) * g.s + s] =
              w[(((grp * kg + j) * cg + c - grp * cg) * g.r + (g.r - 1 - r)) * g.s + (g.s - 1 - s)];
  }
  if (uses_direct_kernels(g)) return direct_forward(t, dy, wt, static_cast<const T*>(nullptr), dx);
  if (uses_winograd<T>(t) && winograd_forward(t, dy, wt, static_cast<const T*>(nullptr), dx)) return;
  indirect_forward(t, dy, wt, static_cast<const T*>(nullptr), dx);
}

// Output positions per step of the weight gradient's sum: whole output rows,
// or pieces of one row when rows are longer, about one kc of the GEMM (a
// 256-deep micro-panel of B fills half of L1).
constexpr int64_t kWeightGradDepth = 256;

// The weight gradient of the other layers, as one product per group,
//   dW_g^T (C/G*R*S, K/G) = cols_g (C/G*R*S, N*Hout*Wout) @ dy_g^T (N*Hout*Wout, K/G),
// whose unfolded input is never written whole: each thread owns MR-row panels
// of dW_g^T (or, when they are too few to balance, NR-column panels), and for
// each step of output positions of one image it unfolds only its own rows
// into a buffer that stays in L2 and packs dy's rows for its own columns.
// The micro-kernel then reads both from cache, where unfolding the whole
// batch first wrote and read back megabytes, on one thread while the other
// waited. Each element of dW is one thread's sum over the images and steps
// in order, so the bytes do not depend on the number of threads.
template <typename T>
void unfolded_weight_grad(const Conv2dShape& g, const T* x, const T* dy, T* dw) {
  const GemmKernels<T>& kern = gemm_kernels_for<T>();
  const int mr = kern.blocks.mr, nr = kern.blocks.nr;
  const int64_t P = g.out_plane(), kg = g.kg(), cg = g.cg(), crs_g = cg * g.taps();
  // A step: rows_per_step whole rows, or (for rows longer than the depth)
  // pieces of row_piece outputs of one row.
  const int64_t rows_per_step = std::clamp<int64_t>(kWeightGradDepth / g.out_w, 1, g.out_h);
  const int64_t row_piece = std::min(g.out_w, kWeightGradDepth);
  const int64_t depth = rows_per_step * row_piece;  // positions per step at most
  const int64_t row_panels = (crs_g + mr - 1) / mr, col_panels = (kg + nr - 1) / nr;
  // A block of unfolded rows fills half of L2, like the GEMM's packed A.
  const int64_t block_panels = std::clamp<int64_t>(
      static_cast<int64_t>(cpu_info().l2 / 2 / (mr * depth * sizeof(T))), 1, row_panels);
  // A thread for each 2^20 multiply-adds at least, as in the GEMM driver,
  // and at most one per panel of the dimension they split.
  const int64_t fmas = g.n * P * g.c * g.taps() * kg;
  const int64_t wanted = std::clamp<int64_t>(fmas >> 20, 1, get_num_threads());
  const auto balance = [&](int64_t panels) {
    return static_cast<double>((panels + wanted - 1) / wanted) * wanted / panels;
  };
  const bool split_rows = balance(row_panels) <= balance(col_panels) * 1.05;
  const int nthreads = static_cast<int>(std::min(wanted, split_rows ? row_panels : col_panels));
  // Per thread: its block of unfolded rows and its dy panels, one scratch block for all.
  const int64_t a_elems = block_panels * mr * depth;
  const int64_t b_elems = (split_rows ? col_panels : (col_panels + nthreads - 1) / nthreads) * nr * depth;
  ScratchBuffer scratch(sizeof(T) * nthreads * (a_elems + b_elems));
  ScratchBuffer dw_t(sizeof(T) * g.c * g.taps() * kg);  // group g's dW_g^T at rows [g*C/G*R*S, ...)
  parallel_run(nthreads, [&](int tid, int nt) {
    const int64_t rp0 = split_rows ? split_begin(0, row_panels, nt, tid) : 0;
    const int64_t rp1 = split_rows ? split_begin(0, row_panels, nt, tid + 1) : row_panels;
    const int64_t cp0 = split_rows ? 0 : split_begin(0, col_panels, nt, tid);
    const int64_t cp1 = split_rows ? col_panels : split_begin(0, col_panels, nt, tid + 1);
    T* const cols = scratch.as<T>() + tid * (a_elems + b_elems);
    T* const dy_panels = cols + a_elems;
    for (int64_t n = 0; n < g.n; ++n) {
      for (int64_t oh0 = 0; oh0 < g.out_h; oh0 += rows_per_step) {
        const int64_t oh1 = std::min(g.out_h, oh0 + rows_per_step);
        for (int64_t ow0 = 0; ow0 < g.out_w; ow0 += row_piece) {
          const int64_t ow1 = std::min(g.out_w, ow0 + row_piece);
          const int64_t len = (oh1 - oh0) * (ow1 - ow0);  // positions of this step, consecutive in dy
          const T beta = n == 0 && oh0 == 0 && ow0 == 0 ? T(0) : T(1);
          for (int64_t grp = 0; grp < g.groups; ++grp) {
            const T* xg = x + (n * g.c + grp * cg) * g.h * g.w;                     // (C/G, H, W)
            const T* dyg = dy + (n * g.k + grp * kg) * P + oh0 * g.out_w + ow0;    // (K/G, len), rows P apart
            T* const dwg = dw_t.as<T>() + grp * crs_g * kg;                        // (C/G*R*S, K/G)
            // dy_g^T (len, K/G) in NR-column panels, this thread's columns
            for (int64_t cp = cp0; cp < cp1; ++cp)
              pack_b_panel(len, static_cast<int>(std::min<int64_t>(nr, kg - cp * nr)), nr, dyg + cp * nr * P,
                           int64_t(1), P, dy_panels + (cp - cp0) * nr * len);
            for (int64_t bp0 = rp0; bp0 < rp1; bp0 += block_panels) {
              const int64_t bp1 = std::min(rp1, bp0 + block_panels);
              const int64_t tap0 = bp0 * mr, tap1 = std::min(crs_g, bp1 * mr);
              im2col(xg, g, tap0, tap1, oh0, oh1, ow0, ow1, cols, len);  // cols (tap1 - tap0, len)
              for (int64_t cp = cp0; cp < cp1; ++cp)
                for (int64_t rp = bp0; rp < bp1; ++rp) {
                  // dW_g^T tile (MR, NR) (+)= cols rows (MR, len) @ dy panel (len, NR)
                  MicroTile<T> t;
                  t.k = len;
                  t.a = cols + (rp * mr - tap0) * len;
                  t.a_rs = len;
                  t.a_cs = 1;
                  t.b = dy_panels + (cp - cp0) * nr * len;
                  t.b_rs = nr;
                  t.c = dwg + rp * mr * kg + cp * nr;
                  t.c_rs = kg;
                  t.c_cs = 1;
                  t.m = static_cast<int>(std::min<int64_t>(mr, crs_g - rp * mr));
                  t.n = static_cast<int>(std::min<int64_t>(nr, kg - cp * nr));
                  t.beta = beta;
                  kern.strided(t);
                }
            }
          }
        }
      }
    }
  });
  for (int64_t grp = 0; grp < g.groups; ++grp)  // dW_g (K/G, C/G*R*S) = (dW_g^T)^T
    transpose(dw_t.as<T>() + grp * crs_g * kg, crs_g, kg, dw + grp * kg * crs_g);
}

}  // namespace

std::size_t conv_scratch_budget() { return g_scratch_budget.load(std::memory_order_relaxed); }
void set_conv_scratch_budget(std::size_t bytes) { g_scratch_budget.store(bytes, std::memory_order_relaxed); }

template <typename T>
void conv2d_forward(const Conv2dShape& g, const T* x, const T* w, const T* bias, T* y) {
  const int64_t P = g.out_plane(), kg = g.kg(), crs_g = g.cg() * g.taps();
  if (g.n == 0 || P == 0 || g.k == 0) return;
  if (crs_g == 0) {  // no input channels: the output is the bias
    for (int64_t i = 0; i < g.n * g.k; ++i) std::fill(y + i * P, y + (i + 1) * P, bias ? bias[i % g.k] : T(0));
    return;
  }
  if (uses_direct_kernels(g)) return direct_forward(g, x, w, bias, y);
  if (uses_winograd<T>(g) && winograd_forward(g, x, w, bias, y)) return;
  if (uses_indirect_forward(g)) return indirect_forward(g, x, w, bias, y);
  if (is_pointwise(g)) {
    run_images(g.n, [&](int64_t n, bool threaded) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        // y_g (K/G, H*W) = W_g (K/G, C/G) @ x_g (C/G, H*W) + bias_g
        GemmProblem<T> p = product(kg, P, crs_g, w + grp * kg * crs_g, crs_g, 1, x + (n * g.c + grp * g.cg()) * P, P,
                                   1, y + (n * g.k + grp * kg) * P, P, threaded);
        p.bias_m = bias ? bias + grp * kg : nullptr;
        gemm(p);
      }
    });
    return;
  }
  const int64_t crs = g.c * g.taps();
  const ChunkPlan plan = plan_chunks(g, crs * sizeof(T));
  ScratchBuffer cols(sizeof(T) * crs * plan.images * plan.rows * g.out_w);
  for_each_chunk(g, plan, [&](int64_t n0, int64_t nb, int64_t oh0, int64_t oh1) {
    const int64_t tile = (oh1 - oh0) * g.out_w;  // columns per image in this chunk
    const int64_t ld = nb * tile;
    run_images(nb, [&](int64_t i, bool threaded) {
      const int64_t n = n0 + i;
      T* cols_i = cols.as<T>() + i * tile;
      // cols_i (C*R*S, tile), row stride ld
      im2col(x + n * g.c * g.h * g.w, g, 0, g.c * g.taps(), oh0, oh1, 0, g.out_w, cols_i, ld);
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        // y_g rows [oh0, oh1) (K/G, tile) = W_g (K/G, C/G*R*S) @ cols_g (C/G*R*S, tile) + bias_g
        GemmProblem<T> p = product(kg, tile, crs_g, w + grp * kg * crs_g, crs_g, 1, cols_i + grp * crs_g * ld, ld, 1,
                                   y + (n * g.k + grp * kg) * P + oh0 * g.out_w, P, threaded);
        p.bias_m = bias ? bias + grp * kg : nullptr;
        gemm(p);
      }
    });
  });
}

template <typename T>
void conv2d_backward_input(const Conv2dShape& g, const T* dy, const T* w, T* dx) {
  const int64_t P = g.out_plane(), kg = g.kg(), crs_g = g.cg() * g.taps();
  std::memset(dx, 0, sizeof(T) * g.n * g.c * g.h * g.w);
  if (g.n == 0 || P == 0 || g.k == 0 || crs_g == 0) return;
  if (input_grad_as_convolution(g)) return backward_input_as_convolution(g, dy, w, dx);
  if (is_depthwise(g)) return depthwise_backward_input(g, dy, w, dx);
  if (is_pointwise(g)) {
    run_images(g.n, [&](int64_t n, bool threaded) {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        // dx_g (C/G, H*W) = W_g^T (C/G, K/G) @ dy_g (K/G, H*W)
        gemm(product(crs_g, P, kg, w + grp * kg * crs_g, 1, crs_g, dy + (n * g.k + grp * kg) * P, P, 1,
                     dx + (n * g.c + grp * g.cg()) * P, P, threaded));
      }
    });
    return;
  }
  const int64_t crs = g.c * g.taps();
  const ChunkPlan plan = plan_chunks(g, crs * sizeof(T));
  ScratchBuffer dcols(sizeof(T) * crs * plan.images * plan.rows * g.out_w);
  for_each_chunk(g, plan, [&](int64_t n0, int64_t nb, int64_t oh0, int64_t oh1) {
    const int64_t tile = (oh1 - oh0) * g.out_w;
    const int64_t ld = nb * tile;
    run_images(nb, [&](int64_t i, bool threaded) {
      const int64_t n = n0 + i;
      T* dcols_i = dcols.as<T>() + i * tile;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        // dcols_g (C/G*R*S, tile) = W_g^T (C/G*R*S, K/G) @ dy_g rows [oh0, oh1) (K/G, tile)
        gemm(product(crs_g, tile, kg, w + grp * kg * crs_g, 1, crs_g, dy + (n * g.k + grp * kg) * P + oh0 * g.out_w,
                     P, 1, dcols_i + grp * crs_g * ld, ld, threaded));
      }
      col2im_add(dcols_i, ld, g.c, g, oh0, oh1, dx + n * g.c * g.h * g.w);  // dx_n (C, H, W) += fold(dcols_i)
    });
  });
}

template <typename T>
void conv2d_backward_weight(const Conv2dShape& g, const T* x, const T* dy, T* dw) {
  const int64_t P = g.out_plane(), kg = g.kg(), crs_g = g.cg() * g.taps();
  if (g.k == 0 || crs_g == 0) return;
  if (g.n == 0 || P == 0) {
    std::memset(dw, 0, sizeof(T) * g.k * crs_g);
    return;
  }
  if (uses_direct_kernels(g)) return direct_backward_weight(g, x, dy, dw);
  if (uses_winograd<T>(g) && winograd_weight_grad(g, x, dy, dw)) return;
  unfolded_weight_grad(g, x, dy, dw);
}

template <typename T>
void conv2d_backward_bias(const Conv2dShape& g, const T* dy, T* db) {
  const int64_t P = g.out_plane();
  const ReduceKernels<T>& reduce = reduce_kernels_for<T>();
  parallel_for(0, g.k, 1, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      // Each plane summed in double by the ISA's vector kernel, the planes
      // added in image order: the same order whatever the threads.
      double total = 0;
      for (int64_t n = 0; n < g.n; ++n) total += reduce.sum_block(dy + (n * g.k + k) * P, P);
      db[k] = static_cast<T>(total);
    }
  });
}

template void conv2d_forward<float>(const Conv2dShape&, const float*, const float*, const float*, float*);
template void conv2d_backward_input<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_backward_weight<float>(const Conv2dShape&, const float*, const float*, float*);
template void conv2d_backward_bias<float>(const Conv2dShape&, const float*, float*);
template void conv2d_forward<double>(const Conv2dShape&, const double*, const double*, const double*, double*);
template void conv2d_backward_input<double>(const Conv2dShape&, const double*, const double*, double*);
template void conv2d_backward_weight<double>(const Conv2dShape&, const double*, const double*, double*);
template void conv2d_backward_bias<double>(const Conv2dShape&, const double*, double*);

}  // namespace pyengine
