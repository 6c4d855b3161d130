// Recurrent layers: the fused per-step cell kernels (compiled per ISA) and the
// sequence drivers that run a whole layer-direction in one call.
//
// Shapes use T = sequence length, B = batch, I = input size, H = hidden size,
// G = gates per cell (1 for the plain RNN, 4 for LSTM, 3 for GRU). Weights are
// in PyTorch's layout: w_ih (G*H, I), w_hh (G*H, H), gate blocks stacked along
// the rows in the order i, f, g, o (LSTM) and r, z, n (GRU).
//
// Per (t, b) the forward pass keeps a workspace row of width
// workspace_width(mode, H) for the backward pass:
//   [ h_prev (H) | c_prev (H, LSTM only) | the cell's saved values ]
// the cell saving h (RNN), i f g o tanh(c) (LSTM) or r z n (W_hn h + b_hn) (GRU).
#pragma once
#include <cstdint>

#include "core/dispatch.h"

namespace pyengine {

enum class RnnMode : int { rnn_tanh = 0, rnn_relu, lstm, gru };

inline int64_t gate_count(RnnMode mode) {
  switch (mode) {
    case RnnMode::lstm: return 4;
    case RnnMode::gru: return 3;
    default: return 1;
  }
}

// Values the cell itself saves per row (after h_prev and c_prev).
inline int64_t cell_saved_width(RnnMode mode, int64_t hidden) {
  switch (mode) {
    case RnnMode::lstm: return 5 * hidden;
    case RnnMode::gru: return 4 * hidden;
    default: return hidden;
  }
}

inline bool has_cell_state(RnnMode mode) { return mode == RnnMode::lstm; }

inline int64_t workspace_width(RnnMode mode, int64_t hidden) {
  return hidden * (has_cell_state(mode) ? 2 : 1) + cell_saved_width(mode, hidden);
}

// One batch row of one step, forward. gx holds the G*H gate pre-activations
// from the input (and, for RNN and LSTM, already the recurrent product and
// both biases); gh holds W_hh h_prev + b_hh for GRU, whose reset gate
// multiplies the recurrent part of n alone. A call computes `units`
// consecutive hidden units, from where the pointers point: the whole row
// (units = hidden), or one thread's share of it; a gate block of gx, gh or
// saved is `hidden` values after the previous one.
template <typename T>
struct CellForwardRow {
  int64_t hidden;
  int64_t units;
  const T* gx;      // G*H
  const T* gh;      // G*H, GRU only
  const T* h_prev;  // H
  const T* c_prev;  // H, LSTM only
  T* h;             // H, the new hidden state
  T* c;             // H, the new cell state (LSTM)
  T* saved;         // cell_saved_width(mode, H)
};

// One batch row of one step, backward. dh_next is the gradient flowing into h
// from the later step (or h_n); dy (may be null) the gradient of this step's
// output. Writes the gate pre-activation gradients of the input side (dgx)
// and of the recurrent side (dgh; the same array as dgx except for GRU),
// the part of dh_prev that does not go through W_hh, and dc_prev; `units`
// as in the forward row.
template <typename T>
struct CellBackwardRow {
  int64_t hidden;
  int64_t units;
  const T* saved;
  const T* h_prev;
  const T* c_prev;
  const T* dh_next;
  const T* dy;
  const T* dc_next;
  T* dgx;
  T* dgh;
  T* dh_prev;
  T* dc_prev;
};

template <typename T>
struct CellKernels {
  void (*forward)(const CellForwardRow<T>&);
  void (*backward)(const CellBackwardRow<T>&);
};

struct CellTable {
  CellKernels<float> f32;
  CellKernels<double> f64;
};

// One table per cell type and compiled ISA, in rnn_cell.cpp, lstm_cell.cpp, gru_cell.cpp.
namespace scalar {
extern const CellTable rnn_tanh_cell_table, rnn_relu_cell_table, lstm_cell_table, gru_cell_table;
}
namespace avx2 {
extern const CellTable rnn_tanh_cell_table, rnn_relu_cell_table, lstm_cell_table, gru_cell_table;
}

const CellTable& cell_kernels(RnnMode mode);  // the active ISA's table

template <typename T>
const CellKernels<T>& cell_kernels_for(RnnMode mode) {
  if constexpr (sizeof(T) == 4) return cell_kernels(mode).f32;
  else return cell_kernels(mode).f64;
}

// One layer in one direction over a whole (padded) sequence. All arrays are
// C-contiguous. lengths (B entries in [0, T], or null for all T) makes the
// steps t >= lengths[b] leave row b's state unchanged and write zeros to its
// output; reverse runs t = T-1 .. 0, so a reversed row starts at its own last
// step, as over a packed sequence.
template <typename T>
struct RnnLayerForward {
  RnnMode mode = RnnMode::lstm;
  int64_t seq_len = 0, batch = 0, input_size = 0, hidden = 0;
  bool reverse = false;
  const T* x = nullptr;      // (T, B, I)
  const T* h0 = nullptr;     // (B, H)
  const T* c0 = nullptr;     // (B, H), LSTM
  const T* w_ih = nullptr;   // (G*H, I)
  const T* w_hh = nullptr;   // (G*H, H)
  const T* b_ih = nullptr;   // (G*H), null without bias
  const T* b_hh = nullptr;   // (G*H), null without bias
  const int64_t* lengths = nullptr;
  T* y = nullptr;            // (T, B, H)
  T* h_n = nullptr;          // (B, H)
  T* c_n = nullptr;          // (B, H), LSTM
  T* workspace = nullptr;    // (T, B, workspace_width), or null when no backward follows
};

template <typename T>
struct RnnLayerBackward {
  RnnMode mode = RnnMode::lstm;
  int64_t seq_len = 0, batch = 0, input_size = 0, hidden = 0;
  bool reverse = false;
  const T* x = nullptr;
  const T* w_ih = nullptr;
  const T* w_hh = nullptr;
  const int64_t* lengths = nullptr;
  const T* workspace = nullptr;  // as written by the forward pass
  const T* dy = nullptr;         // (T, B, H), null for zero
  const T* dh_n = nullptr;       // (B, H), null for zero
  const T* dc_n = nullptr;       // (B, H), LSTM, null for zero
  T* dx = nullptr;               // (T, B, I)
  T* dh0 = nullptr;              // (B, H)
  T* dc0 = nullptr;              // (B, H), LSTM
  T* dw_ih = nullptr;            // (G*H, I)
  T* dw_hh = nullptr;            // (G*H, H)
  T* db_ih = nullptr;            // (G*H), null without bias
  T* db_hh = nullptr;            // (G*H), null without bias
};

template <typename T>
void rnn_layer_forward(const RnnLayerForward<T>& p);
template <typename T>
void rnn_layer_backward(const RnnLayerBackward<T>& p);

}  // namespace pyengine
