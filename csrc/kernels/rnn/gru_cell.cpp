// GRU cell, one batch row per call, gates stacked r, z, n as in PyTorch:
//   r = sigmoid(gx_r + gh_r)   z = sigmoid(gx_z + gh_z)
//   n = tanh(gx_n + r * gh_n)
//   h = (1 - z) * n + z * h_prev
// with gx = W_ih x + b_ih and gh = W_hh h_prev + b_hh: the reset gate scales
// the recurrent part of n including its bias b_hn. Compiled once per ISA.
#include "kernels/rnn/cell_math.h"
#include "kernels/rnn/rnn.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

template <typename T>
void gru_cell_forward(const CellForwardRow<T>& r) {
  const int64_t H = r.hidden;
  // saved = [r | z | n | gh_n]
  for_each_lane_block<T>(r.units, [&](int64_t j, auto tag) {
    using V = decltype(tag);
    const V rg = gate_sigmoid(load<V>(r.gx + j) + load<V>(r.gh + j));
    const V z = gate_sigmoid(load<V>(r.gx + H + j) + load<V>(r.gh + H + j));
    const V hn = load<V>(r.gh + 2 * H + j);
    const V n = gate_tanh(load<V>(r.gx + 2 * H + j) + rg * hn);
    store(r.h + j, n + z * (load<V>(r.h_prev + j) - n));
    store(r.saved + j, rg);
    store(r.saved + H + j, z);
    store(r.saved + 2 * H + j, n);
    store(r.saved + 3 * H + j, hn);
  });
}

// The input side and the recurrent side share the r and z gradients; for n
// the recurrent side sees dn_pre * r, since r multiplies W_hn h + b_hn.
template <typename T>
void gru_cell_backward(const CellBackwardRow<T>& r) {
  const int64_t H = r.hidden;
  for_each_lane_block<T>(r.units, [&](int64_t j, auto tag) {
    using V = decltype(tag);
    const V one = splat<V>(T(1));
    const V dh = output_grad<V>(r.dh_next, r.dy, j);
    const V rg = load<V>(r.saved + j);
    const V z = load<V>(r.saved + H + j);
    const V n = load<V>(r.saved + 2 * H + j);
    const V hn = load<V>(r.saved + 3 * H + j);
    const V dn_pre = dh * (one - z) * (one - n * n);
    const V dr_pre = dn_pre * hn * rg * (one - rg);
    const V dz_pre = dh * (load<V>(r.h_prev + j) - n) * z * (one - z);
    store(r.dgx + j, dr_pre);
    store(r.dgx + H + j, dz_pre);
    store(r.dgx + 2 * H + j, dn_pre);
    store(r.dgh + j, dr_pre);
    store(r.dgh + H + j, dz_pre);
    store(r.dgh + 2 * H + j, dn_pre * rg);
    store(r.dh_prev + j, dh * z);
  });
}

template <typename T>
constexpr CellKernels<T> make_gru_cell_kernels() {
  return {gru_cell_forward<T>, gru_cell_backward<T>};
}

}  // namespace

extern const CellTable gru_cell_table = {make_gru_cell_kernels<float>(), make_gru_cell_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
