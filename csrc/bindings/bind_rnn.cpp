// Recurrent layers and cells: argument checks, output allocation, one driver
// call per layer-direction (a cell is a sequence of one step).
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings/common.h"
#include "kernels/rnn/rnn.h"

namespace pyengine {
namespace bind {

namespace {

RnnMode parse_mode(const std::string& mode) {
  if (mode == "rnn_tanh") return RnnMode::rnn_tanh;
  if (mode == "rnn_relu") return RnnMode::rnn_relu;
  if (mode == "lstm") return RnnMode::lstm;
  if (mode == "gru") return RnnMode::gru;
  fail_value("rnn: unknown mode '", mode, "' (choose 'rnn_tanh', 'rnn_relu', 'lstm' or 'gru')");
}

// The shape a cell call sees: a sequence of one step with the time axis dropped.
std::vector<int64_t> step_shape(bool cell, int64_t seq_len, std::vector<int64_t> rest) {
  if (!cell) rest.insert(rest.begin(), seq_len);
  return rest;
}

// A float operand of a given dtype, C-contiguous (copied once if it is not).
py::array float_operand(const py::handle& obj, DType dtype, const std::string& op, const char* arg) {
  py::array a = contiguous_float(obj, op.c_str(), arg);
  check_same_dtype(dtype, a, op.c_str(), arg);
  return a;
}

void check_shape(const py::array& a, const std::vector<int64_t>& want, const std::string& op, const char* arg,
                 const char* meaning) {
  if (shape_of(a) != want)
    fail_value(op, ": ", arg, " has shape ", shape_str(a), " but ", meaning, " ", pyengine::shape_str(want));
}

// An argument or result that may be absent (None): biases, the cell state,
// lengths, the workspace of an inference call.
using MaybeArray = std::optional<py::array>;

template <typename T>
const T* data_or_null(const MaybeArray& a) {
  return a ? static_cast<const T*>(a->data()) : nullptr;
}
template <typename T>
T* mutable_or_null(MaybeArray& a) {
  return a ? static_cast<T*>(a->mutable_data()) : nullptr;
}
py::object array_or_none(const MaybeArray& a) { return a ? py::object(*a) : py::none(); }

// What forward and backward share: the mode, the sizes read from x and the
// weights, the checked weights and lengths.
struct LayerArgs {
  RnnMode mode;
  std::string op;
  bool cell;
  DType dtype;
  int64_t seq_len, batch, input_size, hidden, gates;
  py::array x, w_ih, w_hh;
  MaybeArray lengths;
};

LayerArgs layer_args(const std::string& mode_name, bool cell, const char* suffix, const py::handle& x_obj,
                     const py::handle& w_ih_obj, const py::handle& w_hh_obj, const py::object& lengths_obj) {
  LayerArgs a;
  a.mode = parse_mode(mode_name);
  a.cell = cell;
  a.op = mode_name + (cell ? "_cell" : "") + suffix;
  const char* op = a.op.c_str();
  a.x = contiguous_float(x_obj, op, "input", &a.dtype);
  const int64_t want_ndim = cell ? 2 : 3;
  if (a.x.ndim() != want_ndim)
    fail_value(op, ": input must be ", want_ndim, "-D ", cell ? "(batch, input_size)" : "(seq_len, batch, input_size)",
               ", got shape ", shape_str(a.x));
  a.seq_len = cell ? 1 : a.x.shape(0);
  a.batch = a.x.shape(want_ndim - 2);
  a.input_size = a.x.shape(want_ndim - 1);
  a.gates = gate_count(a.mode);
  a.w_hh = float_operand(w_hh_obj, a.dtype, a.op, "weight_hh");
  if (a.w_hh.ndim() != 2 || a.w_hh.shape(1) == 0 || a.w_hh.shape(0) != a.gates * a.w_hh.shape(1))
    fail_value(op, ": weight_hh has shape ", shape_str(a.w_hh), " but must be (", a.gates,
               " * hidden_size, hidden_size) with hidden_size > 0");
  a.hidden = a.w_hh.shape(1);
  a.w_ih = float_operand(w_ih_obj, a.dtype, a.op, "weight_ih");
  if (shape_of(a.w_ih) != std::vector<int64_t>{a.gates * a.hidden, a.input_size})
    fail_value(op, ": weight_ih has shape ", shape_str(a.w_ih), " but input ", shape_str(a.x), " and weight_hh ",
               shape_str(a.w_hh), " need (", a.gates * a.hidden, ", ", a.input_size, ")");
  if (!lengths_obj.is_none()) {
    py::array l = as_array(lengths_obj, op, "lengths");
    if (l.dtype().kind() != 'i' || l.itemsize() != 8)
      fail_type(op, ": lengths must be int64, got ", std::string(py::str(l.dtype())));
    check_shape(l, {a.batch}, a.op, "lengths", "the batch needs");
    a.lengths = py::array_t<int64_t, py::array::c_style>::ensure(l);
    const int64_t* lp = static_cast<const int64_t*>(a.lengths->data());
    for (int64_t b = 0; b < a.batch; ++b)
      if (lp[b] < 0 || lp[b] > a.seq_len)
        fail_value(op, ": lengths[", b, "] = ", lp[b], " is outside [0, ", a.seq_len, "]");
  }
  return a;
}

// Both biases or neither, each (G*H,).
std::pair<MaybeArray, MaybeArray> biases(const LayerArgs& a, const py::object& b_ih_obj, const py::object& b_hh_obj) {
  if (b_ih_obj.is_none() != b_hh_obj.is_none())
    fail_value(a.op, ": pass both bias_ih and bias_hh or neither");
  if (b_ih_obj.is_none()) return {};
  py::array b_ih = float_operand(b_ih_obj, a.dtype, a.op, "bias_ih");
  py::array b_hh = float_operand(b_hh_obj, a.dtype, a.op, "bias_hh");
  check_shape(b_ih, {a.gates * a.hidden}, a.op, "bias_ih", "the weights need");
  check_shape(b_hh, {a.gates * a.hidden}, a.op, "bias_hh", "the weights need");
  return {b_ih, b_hh};
}

// A (batch, hidden) state; None only when `optional`.
MaybeArray state_operand(const LayerArgs& a, const py::object& obj, const char* arg, bool optional) {
  if (obj.is_none()) {
    if (!optional) fail_value(a.op, ": ", arg, " is required");
    return std::nullopt;
  }
  py::array s = float_operand(obj, a.dtype, a.op, arg);
  check_shape(s, {a.batch, a.hidden}, a.op, arg, "input and weights need (batch, hidden_size) =");
  return s;
}

void check_cell_state_arg(const LayerArgs& a, const py::object& obj, const char* arg) {
  if (!has_cell_state(a.mode) && !obj.is_none()) fail_value(a.op, ": ", arg, " is only for LSTM; pass None");
}

py::tuple layer_forward(const std::string& mode, bool cell, const py::handle& x_obj, const py::object& h0_obj,
                        const py::object& c0_obj, const py::handle& w_ih_obj, const py::handle& w_hh_obj,
                        const py::object& b_ih_obj, const py::object& b_hh_obj, const py::object& lengths_obj,
                        bool reverse, bool training) {
  const LayerArgs a = layer_args(mode, cell, "_forward", x_obj, w_ih_obj, w_hh_obj, lengths_obj);
  const bool lstm = has_cell_state(a.mode);
  auto [b_ih, b_hh] = biases(a, b_ih_obj, b_hh_obj);
  const py::array h0 = *state_operand(a, h0_obj, "hx", false);
  check_cell_state_arg(a, c0_obj, "cx");
  const MaybeArray c0 = lstm ? state_operand(a, c0_obj, "cx", false) : std::nullopt;

  const int64_t S = a.seq_len, B = a.batch, H = a.hidden;
  py::array y = empty_array(a.dtype, step_shape(cell, S, {B, H}));
  py::array h_n = empty_array(a.dtype, {B, H});
  MaybeArray c_n = lstm ? MaybeArray(empty_array(a.dtype, {B, H})) : std::nullopt;
  MaybeArray ws;
  if (training) ws = empty_array(a.dtype, step_shape(cell, S, {B, workspace_width(a.mode, H)}));

  dispatch_float(a.dtype, [&](auto t) {
    using T = decltype(t);
    RnnLayerForward<T> p;
    p.mode = a.mode;
    p.seq_len = S;
    p.batch = B;
    p.input_size = a.input_size;
    p.hidden = H;
    p.reverse = reverse;
    p.x = static_cast<const T*>(a.x.data());
    p.h0 = static_cast<const T*>(h0.data());
    p.c0 = data_or_null<T>(c0);
    p.w_ih = static_cast<const T*>(a.w_ih.data());
    p.w_hh = static_cast<const T*>(a.w_hh.data());
    p.b_ih = data_or_null<T>(b_ih);
    p.b_hh = data_or_null<T>(b_hh);
    p.lengths = data_or_null<int64_t>(a.lengths);
    p.y = static_cast<T*>(y.mutable_data());
    p.h_n = static_cast<T*>(h_n.mutable_data());
    p.c_n = mutable_or_null<T>(c_n);
    p.workspace = mutable_or_null<T>(ws);
    py::gil_scoped_release release;
    rnn_layer_forward(p);
  });
  if (cell) return py::make_tuple(h_n, array_or_none(c_n), array_or_none(ws));
  return py::make_tuple(y, h_n, array_or_none(c_n), array_or_none(ws));
}

py::tuple layer_backward(const std::string& mode, bool cell, const py::object& dy_obj, const py::object& dh_n_obj,
                         const py::object& dc_n_obj, const py::handle& x_obj, const py::handle& w_ih_obj,
                         const py::handle& w_hh_obj, const py::handle& ws_obj, const py::object& lengths_obj,
                         bool reverse, bool has_bias) {
  const LayerArgs a = layer_args(mode, cell, "_backward", x_obj, w_ih_obj, w_hh_obj, lengths_obj);
  const bool lstm = has_cell_state(a.mode);
  const int64_t S = a.seq_len, B = a.batch, I = a.input_size, H = a.hidden, GH = a.gates * a.hidden;
  py::array ws = float_operand(ws_obj, a.dtype, a.op, "workspace");
  check_shape(ws, step_shape(cell, S, {B, workspace_width(a.mode, H)}), a.op, "workspace", "the forward pass wrote");
  MaybeArray dy;
  if (!dy_obj.is_none()) {
    dy = float_operand(dy_obj, a.dtype, a.op, "grad_output");
    check_shape(*dy, step_shape(cell, S, {B, H}), a.op, "grad_output", "the output has shape");
  }
  const MaybeArray dh_n = state_operand(a, dh_n_obj, "grad_h_n", true);
  check_cell_state_arg(a, dc_n_obj, "grad_c_n");
  const MaybeArray dc_n = lstm ? state_operand(a, dc_n_obj, "grad_c_n", true) : std::nullopt;

  py::array dx = empty_array(a.dtype, shape_of(a.x));
  py::array dh0 = empty_array(a.dtype, {B, H});
  MaybeArray dc0 = lstm ? MaybeArray(empty_array(a.dtype, {B, H})) : std::nullopt;
  py::array dw_ih = empty_array(a.dtype, {GH, I});
  py::array dw_hh = empty_array(a.dtype, {GH, H});
  MaybeArray db_ih, db_hh;
  if (has_bias) {
    db_ih = empty_array(a.dtype, {GH});
    db_hh = empty_array(a.dtype, {GH});
  }

  dispatch_float(a.dtype, [&](auto t) {
    using T = decltype(t);
    RnnLayerBackward<T> p;
    p.mode = a.mode;
    p.seq_len = S;
    p.batch = B;
    p.input_size = I;
    p.hidden = H;
    p.reverse = reverse;
    p.x = static_cast<const T*>(a.x.data());
    p.w_ih = static_cast<const T*>(a.w_ih.data());
    p.w_hh = static_cast<const T*>(a.w_hh.data());
    p.lengths = data_or_null<int64_t>(a.lengths);
    p.workspace = static_cast<const T*>(ws.data());
    p.dy = data_or_null<T>(dy);
    p.dh_n = data_or_null<T>(dh_n);
    p.dc_n = data_or_null<T>(dc_n);
    p.dx = static_cast<T*>(dx.mutable_data());
    p.dh0 = static_cast<T*>(dh0.mutable_data());
    p.dc0 = mutable_or_null<T>(dc0);
    p.dw_ih = static_cast<T*>(dw_ih.mutable_data());
    p.dw_hh = static_cast<T*>(dw_hh.mutable_data());
    p.db_ih = mutable_or_null<T>(db_ih);
    p.db_hh = mutable_or_null<T>(db_hh);
    py::gil_scoped_release release;
    rnn_layer_backward(p);
  });
  return py::make_tuple(dx, dh0, array_or_none(dc0), dw_ih, dw_hh, array_or_none(db_ih), array_or_none(db_hh));
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("rnn_layer_forward",
        [](const std::string& mode, py::handle x, py::object h0, py::object c0, py::handle w_ih, py::handle w_hh,
           py::object b_ih, py::object b_hh, py::object lengths, bool reverse, bool training) {
          return layer_forward(mode, false, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, training);
        },
        py::arg("mode"), py::arg("input"), py::arg("hx"), py::arg("cx"), py::arg("weight_ih"), py::arg("weight_hh"),
        py::arg("bias_ih") = py::none(), py::arg("bias_hh") = py::none(), py::kw_only(),
        py::arg("lengths") = py::none(), py::arg("reverse") = false, py::arg("training") = true,
        "One recurrent layer in one direction over a (seq_len, batch, input_size) sequence: "
        "(output, h_n, c_n or None, workspace or None)");
  m.def("rnn_layer_backward",
        [](const std::string& mode, py::object dy, py::object dh_n, py::object dc_n, py::handle x, py::handle w_ih,
           py::handle w_hh, py::handle ws, py::object lengths, bool reverse, bool has_bias) {
          return layer_backward(mode, false, dy, dh_n, dc_n, x, w_ih, w_hh, ws, lengths, reverse, has_bias);
        },
        py::arg("mode"), py::arg("grad_output"), py::arg("grad_h_n"), py::arg("grad_c_n"), py::arg("input"),
        py::arg("weight_ih"), py::arg("weight_hh"), py::arg("workspace"), py::kw_only(),
        py::arg("lengths") = py::none(), py::arg("reverse") = false, py::arg("has_bias") = true,
        "Backward through time of rnn_layer_forward: (grad_input, grad_hx, grad_cx or None, grad_weight_ih, "
        "grad_weight_hh, grad_bias_ih or None, grad_bias_hh or None)");
  m.def("rnn_cell_forward",
        [](const std::string& mode, py::handle x, py::object h, py::object c, py::handle w_ih, py::handle w_hh,
           py::object b_ih, py::object b_hh, bool training) {
          return layer_forward(mode, true, x, h, c, w_ih, w_hh, b_ih, b_hh, py::none(), false, training);
        },
        py::arg("mode"), py::arg("input"), py::arg("hx"), py::arg("cx"), py::arg("weight_ih"), py::arg("weight_hh"),
        py::arg("bias_ih") = py::none(), py::arg("bias_hh") = py::none(), py::kw_only(), py::arg("training") = true,
        "One step of a recurrent cell on (batch, input_size): (h, c or None, workspace or None)");
  m.def("rnn_cell_backward",
        [](const std::string& mode, py::object dh, py::object dc, py::handle x, py::handle w_ih, py::handle w_hh,
           py::handle ws, bool has_bias) {
          return layer_backward(mode, true, py::none(), dh, dc, x, w_ih, w_hh, ws, py::none(), false, has_bias);
        },
        py::arg("mode"), py::arg("grad_h"), py::arg("grad_c"), py::arg("input"), py::arg("weight_ih"),
        py::arg("weight_hh"), py::arg("workspace"), py::kw_only(), py::arg("has_bias") = true,
        "Backward of rnn_cell_forward: (grad_input, grad_hx, grad_cx or None, grad_weight_ih, grad_weight_hh, "
        "grad_bias_ih or None, grad_bias_hh or None)");
}

}  // namespace bind
}  // namespace pyengine
