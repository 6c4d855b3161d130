// Elman RNN cell, one batch row per call:
//   h = tanh(gx)  or  h = relu(gx)
// gx already holds W_ih x + b_ih + W_hh h_prev + b_hh. Compiled once per ISA.
#include "kernels/rnn/cell_math.h"
#include "kernels/rnn/rnn.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {
namespace {

// Each activation with its derivative written from the activation's output
// h, which is all the cell saves.
struct TanhActivation {
  template <typename V>
  static V apply(V x) { return gate_tanh(x); }
  template <typename V, typename T>
  static V grad(V h, V dh) { return dh * (splat<V>(T(1)) - h * h); }
};

struct ReluActivation {
  template <typename T>
  static T apply(T x) { return x > T(0) ? x : T(0); }
  template <typename T>
  static Vec<T> apply(Vec<T> x) { return select(x > Vec<T>::zero(), x, Vec<T>::zero()); }
  template <typename V, typename T>
  static V grad(V h, V dh) {
    if constexpr (std::is_same_v<V, T>) return h > T(0) ? dh : T(0);
    else return select(h > V::zero(), dh, V::zero());
  }
};

template <typename T, typename Act>
void rnn_cell_forward(const CellForwardRow<T>& r) {
  for_each_lane_block<T>(r.units, [&](int64_t j, auto tag) {
    using V = decltype(tag);
    const V h = Act::apply(load<V>(r.gx + j));
    store(r.h + j, h);
    store(r.saved + j, h);
  });
}

template <typename T, typename Act>
void rnn_cell_backward(const CellBackwardRow<T>& r) {
  for_each_lane_block<T>(r.units, [&](int64_t j, auto tag) {
    using V = decltype(tag);
    store(r.dgx + j, Act::template grad<V, T>(load<V>(r.saved + j), output_grad<V>(r.dh_next, r.dy, j)));
    store(r.dh_prev + j, splat<V>(T(0)));
  });
}

template <typename Act>
constexpr CellTable make_rnn_cell_table() {
  return {{rnn_cell_forward<float, Act>, rnn_cell_backward<float, Act>},
          {rnn_cell_forward<double, Act>, rnn_cell_backward<double, Act>}};
}

}  // namespace

extern const CellTable rnn_tanh_cell_table = make_rnn_cell_table<TanhActivation>();
extern const CellTable rnn_relu_cell_table = make_rnn_cell_table<ReluActivation>();

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
