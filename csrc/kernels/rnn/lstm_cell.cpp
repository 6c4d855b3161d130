// LSTM cell, one batch row per call, gates stacked i, f, g, o:
//   i = sigmoid(gx_i)  f = sigmoid(gx_f)  g = tanh(gx_g)  o = sigmoid(gx_o)
//   c = f * c_prev + i * g
//   h = o * tanh(c)
// gx already holds W_ih x + b_ih + W_hh h_prev + b_hh. Compiled once per ISA.
#include "kernels/rnn/cell_math.h"
#include "kernels/rnn/rnn.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

template <typename T>
void lstm_cell_forward(const CellForwardRow<T>& r) {
  const int64_t H = r.hidden;
  // saved = [i | f | g | o | tanh(c)]
  for_each_lane_block<T>(r.units, [&](int64_t j, auto tag) {
    using V = decltype(tag);
    const V i = gate_sigmoid(load<V>(r.gx + j));
    const V f = gate_sigmoid(load<V>(r.gx + H + j));
    const V g = gate_tanh(load<V>(r.gx + 2 * H + j));
    const V o = gate_sigmoid(load<V>(r.gx + 3 * H + j));
    const V c = f * load<V>(r.c_prev + j) + i * g;
    const V tc = gate_tanh(c);
    store(r.c + j, c);
    store(r.h + j, o * tc);
    store(r.saved + j, i);
    store(r.saved + H + j, f);
    store(r.saved + 2 * H + j, g);
    store(r.saved + 3 * H + j, o);
    store(r.saved + 4 * H + j, tc);
  });
}

// dc = dc_next + dh * o * (1 - tanh(c)^2); the gate gradients follow from
// c = f * c_prev + i * g and h = o * tanh(c), each times its activation's
// derivative written from the activation's output.
template <typename T>
void lstm_cell_backward(const CellBackwardRow<T>& r) {
  const int64_t H = r.hidden;
  for_each_lane_block<T>(r.units, [&](int64_t j, auto tag) {
    using V = decltype(tag);
    const V one = splat<V>(T(1));
    const V dh = output_grad<V>(r.dh_next, r.dy, j);
    const V i = load<V>(r.saved + j);
    const V f = load<V>(r.saved + H + j);
    const V g = load<V>(r.saved + 2 * H + j);
    const V o = load<V>(r.saved + 3 * H + j);
    const V tc = load<V>(r.saved + 4 * H + j);
    const V dc = load<V>(r.dc_next + j) + dh * o * (one - tc * tc);
    store(r.dgx + j, dc * g * i * (one - i));
    store(r.dgx + H + j, dc * load<V>(r.c_prev + j) * f * (one - f));
    store(r.dgx + 2 * H + j, dc * i * (one - g * g));
    store(r.dgx + 3 * H + j, dh * tc * o * (one - o));
    store(r.dc_prev + j, dc * f);
    store(r.dh_prev + j, splat<V>(T(0)));
  });
}

template <typename T>
constexpr CellKernels<T> make_lstm_cell_kernels() {
  return {lstm_cell_forward<T>, lstm_cell_backward<T>};
}

}  // namespace

extern const CellTable lstm_cell_table = {make_lstm_cell_kernels<float>(), make_lstm_cell_kernels<double>()};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
