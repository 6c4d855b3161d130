// Bindings of the convolution family: convolution, unfolding, pooling and
// batch normalisation. Every shape rule is checked here, with the op, the
// argument and the shapes named, before a kernel sees a pointer.
#include <pybind11/stl.h>

#include <cstring>

#include "bindings/common.h"
#include "kernels/conv/conv.h"

namespace pyengine {
namespace bind {

namespace {

using Ints = std::vector<int64_t>;

std::string ints_str(const Ints& v) { return pyengine::shape_str(v); }

// Requires `n` values (any count when n == 0), each at least `low`.
void check_ints(const Ints& v, std::size_t n, int64_t low, const char* op, const char* arg) {
  if (n && v.size() != n) fail_value(op, ": ", arg, " must have ", n, " values, got ", ints_str(v));
  for (int64_t e : v)
    if (e < low) fail_value(op, ": ", arg, " must be >= ", low, ", got ", ints_str(v));
}

template <typename T>
const T* ptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}
template <typename T>
T* mut(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}

// A float array of `ndim` dimensions and the given dtype, C-contiguous.
py::array float_input(const py::handle& obj, DType dtype, int ndim, const char* op, const char* arg) {
  py::array a = contiguous_float(obj, op, arg);
  check_same_dtype(dtype, a, op, arg);
  if (a.ndim() != ndim) fail_value(op, ": ", arg, " must be ", ndim, "-D, got shape ", shape_str(a));
  return a;
}

// The convolution geometry from the input and weight shapes, every rule checked.
// stride, dilation: (h, w); padding: (top, bottom, left, right).
Conv2dShape conv_shape(const char* op, const Ints& x, const Ints& w, const Ints& stride, const Ints& padding,
                       const Ints& dilation, int64_t groups) {
  check_ints(stride, 2, 1, op, "stride");
  check_ints(padding, 4, 0, op, "padding");
  check_ints(dilation, 2, 1, op, "dilation");
  if (x.size() != 4) fail_value(op, ": input must be 4-D (N, C, H, W), got shape ", ints_str(x));
  if (w.size() != 4) fail_value(op, ": weight must be 4-D (out, in/groups, kh, kw), got shape ", ints_str(w));
  const std::string shapes = str_cat(" (input ", ints_str(x), ", weight ", ints_str(w), ")");
  if (groups < 1) fail_value(op, ": groups must be >= 1, got ", groups);
  if (x[1] % groups != 0) fail_value(op, ": input channels ", x[1], " are not divisible by groups=", groups, shapes);
  if (w[0] % groups != 0) fail_value(op, ": output channels ", w[0], " are not divisible by groups=", groups, shapes);
  if (w[1] * groups != x[1]) {
    if (groups == 1) fail_value(op, ": input has ", x[1], " channels but weight expects ", w[1], shapes);
    fail_value(op, ": input has ", x[1], " channels but weight expects ", w[1], " x groups=", groups, " = ",
               w[1] * groups, shapes);
  }
  if (w[2] < 1 || w[3] < 1) fail_value(op, ": kernel size must be positive", shapes);
  Conv2dShape g;
  g.n = x[0];
  g.c = x[1];
  g.h = x[2];
  g.w = x[3];
  g.k = w[0];
  g.r = w[2];
  g.s = w[3];
  g.groups = groups;
  g.stride_h = stride[0];
  g.stride_w = stride[1];
  g.pad_top = padding[0];
  g.pad_bottom = padding[1];
  g.pad_left = padding[2];
  g.pad_right = padding[3];
  g.dil_h = dilation[0];
  g.dil_w = dilation[1];
  if (g.span_h() > g.padded_h() || g.span_w() > g.padded_w())
    fail_value(op, ": kernel (", g.r, ", ", g.s, ") with dilation ", ints_str(dilation), " spans (", g.span_h(), ", ",
               g.span_w(), "), larger than the padded input (", g.padded_h(), ", ", g.padded_w(), ")", shapes);
  return g.with_output_size();
}

py::array conv2d_forward_py(const py::handle& x_obj, const py::handle& w_obj, const py::object& bias_obj,
                            const Ints& stride, const Ints& padding, const Ints& dilation, int64_t groups) {
  constexpr const char* op = "conv2d";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "input", &dtype);
  py::array w = contiguous_float(w_obj, op, "weight");
  check_same_dtype(dtype, w, op, "weight");
  const Conv2dShape g = conv_shape(op, shape_of(x), shape_of(w), stride, padding, dilation, groups);
  py::array bias;
  if (!bias_obj.is_none()) {
    bias = contiguous_float(bias_obj, op, "bias");
    check_same_dtype(dtype, bias, op, "bias");
    if (bias.ndim() != 1 || bias.shape(0) != g.k)
      fail_value(op, ": bias has shape ", shape_str(bias), " but weight has ", g.k, " output channels");
  }
  py::array y = empty_array(dtype, {g.n, g.k, g.out_h, g.out_w});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    const T* b = bias_obj.is_none() ? nullptr : ptr<T>(bias);
    py::gil_scoped_release release;
    conv2d_forward<T>(g, ptr<T>(x), ptr<T>(w), b, mut<T>(y));
  });
  return y;
}

void check_grad_output(const py::array& dy, const Conv2dShape& g, const char* op) {
  const Ints want{g.n, g.k, g.out_h, g.out_w};
  if (shape_of(dy) != want)
    fail_value(op, ": grad_output has shape ", shape_str(dy), " but the convolution output has shape ", ints_str(want));
}

py::array conv2d_backward_input_py(const py::handle& dy_obj, const py::handle& w_obj, const Ints& input_shape,
                                   const Ints& stride, const Ints& padding, const Ints& dilation, int64_t groups) {
  constexpr const char* op = "conv2d_backward_input";
  DType dtype;
  py::array dy = contiguous_float(dy_obj, op, "grad_output", &dtype);
  py::array w = contiguous_float(w_obj, op, "weight");
  check_same_dtype(dtype, w, op, "weight");
  check_ints(input_shape, 0, 0, op, "input_shape");
  const Conv2dShape g = conv_shape(op, input_shape, shape_of(w), stride, padding, dilation, groups);
  check_grad_output(dy, g, op);
  py::array dx = empty_array(dtype, input_shape);
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    conv2d_backward_input<T>(g, ptr<T>(dy), ptr<T>(w), mut<T>(dx));
  });
  return dx;
}

py::array conv2d_backward_weight_py(const py::handle& x_obj, const py::handle& dy_obj, const Ints& weight_shape,
                                    const Ints& stride, const Ints& padding, const Ints& dilation, int64_t groups) {
  constexpr const char* op = "conv2d_backward_weight";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "input", &dtype);
  py::array dy = contiguous_float(dy_obj, op, "grad_output");
  check_same_dtype(dtype, dy, op, "grad_output");
  check_ints(weight_shape, 0, 0, op, "weight_shape");
  const Conv2dShape g = conv_shape(op, shape_of(x), weight_shape, stride, padding, dilation, groups);
  check_grad_output(dy, g, op);
  py::array dw = empty_array(dtype, weight_shape);
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    conv2d_backward_weight<T>(g, ptr<T>(x), ptr<T>(dy), mut<T>(dw));
  });
  return dw;
}

py::array conv2d_backward_bias_py(const py::handle& dy_obj) {
  constexpr const char* op = "conv2d_backward_bias";
  DType dtype;
  py::array dy = contiguous_float(dy_obj, op, "grad_output", &dtype);
  if (dy.ndim() != 4) fail_value(op, ": grad_output must be 4-D (N, K, Hout, Wout), got shape ", shape_str(dy));
  Conv2dShape g;
  g.n = dy.shape(0);
  g.k = dy.shape(1);
  g.out_h = dy.shape(2);
  g.out_w = dy.shape(3);
  py::array db = empty_array(dtype, {g.k});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    conv2d_backward_bias<T>(g, ptr<T>(dy), mut<T>(db));
  });
  return db;
}

// im2col / col2im of one image (C, H, W), as the kernels see it.
Conv2dShape unfold_shape(const char* op, const Ints& image, const Ints& kernel_size, const Ints& stride,
                         const Ints& padding, const Ints& dilation) {
  if (image.size() != 3) fail_value(op, ": the image must be 3-D (C, H, W), got shape ", ints_str(image));
  check_ints(kernel_size, 2, 1, op, "kernel_size");
  return conv_shape(op, {1, image[0], image[1], image[2]}, {1, image[0], kernel_size[0], kernel_size[1]}, stride,
                    padding, dilation, 1);
}

py::array im2col_py(const py::handle& x_obj, const Ints& kernel_size, const Ints& stride, const Ints& padding,
                    const Ints& dilation) {
  constexpr const char* op = "im2col";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "x", &dtype);
  const Conv2dShape g = unfold_shape(op, shape_of(x), kernel_size, stride, padding, dilation);
  const int64_t ld = g.out_plane();
  py::array cols = empty_array(dtype, {g.c * g.taps(), ld});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    im2col<T>(ptr<T>(x), g, 0, g.c * g.taps(), 0, g.out_h, 0, g.out_w, mut<T>(cols), ld);
  });
  return cols;
}

py::array col2im_py(const py::handle& cols_obj, const Ints& image_shape, const Ints& kernel_size, const Ints& stride,
                    const Ints& padding, const Ints& dilation) {
  constexpr const char* op = "col2im";
  DType dtype;
  py::array cols = contiguous_float(cols_obj, op, "cols", &dtype);
  check_ints(image_shape, 0, 0, op, "image_shape");
  const Conv2dShape g = unfold_shape(op, image_shape, kernel_size, stride, padding, dilation);
  const int64_t ld = g.out_plane();
  const Ints want{g.c * g.taps(), ld};
  if (shape_of(cols) != want)
    fail_value(op, ": cols has shape ", shape_str(cols), " but the image ", ints_str(image_shape), " unfolds to ",
               ints_str(want));
  py::array x = empty_array(dtype, image_shape);
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    T* xp = mut<T>(x);
    py::gil_scoped_release release;
    std::memset(xp, 0, sizeof(T) * g.c * g.h * g.w);
    col2im_add<T>(ptr<T>(cols), ld, g.c, g, 0, g.out_h, xp);
  });
  return x;
}

// ---- pooling ------------------------------------------------------------------

// PyTorch's pooling output size: ceil_mode rounds up, but a last window must
// start inside the input or its left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
  const int64_t span = d * (k - 1) + 1;
  int64_t out = (in + 2 * p - span + (ceil_mode ? s - 1 : 0)) / s + 1;
  if (ceil_mode && (out - 1) * s >= in + p) --out;
  return out;
}

Pool2dShape pool_shape(const char* op, const Ints& x, const Ints& kernel_size, const Ints& stride, const Ints& padding,
                       const Ints& dilation, bool ceil_mode) {
  check_ints(kernel_size, 2, 1, op, "kernel_size");
  check_ints(stride, 2, 1, op, "stride");
  check_ints(padding, 2, 0, op, "padding");
  check_ints(dilation, 2, 1, op, "dilation");
  if (x.size() != 4) fail_value(op, ": input must be 4-D (N, C, H, W), got shape ", ints_str(x));
  for (int d = 0; d < 2; ++d)
    if (2 * padding[d] > dilation[d] * (kernel_size[d] - 1) + 1)
      fail_value(op, ": padding ", ints_str(padding), " must be at most half of the kernel ", ints_str(kernel_size),
                 " (with dilation ", ints_str(dilation), ")");
  Pool2dShape g;
  g.planes = x[0] * x[1];
  g.h = x[2];
  g.w = x[3];
  g.kh = kernel_size[0];
  g.kw = kernel_size[1];
  g.stride_h = stride[0];
  g.stride_w = stride[1];
  g.pad_h = padding[0];
  g.pad_w = padding[1];
  g.dil_h = dilation[0];
  g.dil_w = dilation[1];
  const bool fits = g.dil_h * (g.kh - 1) + 1 <= g.h + 2 * g.pad_h && g.dil_w * (g.kw - 1) + 1 <= g.w + 2 * g.pad_w;
  if (fits) {
    g.out_h = pooled_size(g.h, g.kh, g.stride_h, g.pad_h, g.dil_h, ceil_mode);
    g.out_w = pooled_size(g.w, g.kw, g.stride_w, g.pad_w, g.dil_w, ceil_mode);
  }
  if (!fits || g.out_h < 1 || g.out_w < 1)
    fail_value(op, ": kernel ", ints_str(kernel_size), " with dilation ", ints_str(dilation),
               " is larger than the padded input (", g.h + 2 * g.pad_h, ", ", g.w + 2 * g.pad_w, ") (input ",
               ints_str(x), ")");
  return g;
}

py::tuple max_pool2d_forward_py(const py::handle& x_obj, const Ints& kernel_size, const Ints& stride,
                                const Ints& padding, const Ints& dilation, bool ceil_mode) {
  constexpr const char* op = "max_pool2d";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "input", &dtype);
  const Pool2dShape g = pool_shape(op, shape_of(x), kernel_size, stride, padding, dilation, ceil_mode);
  const Ints out_shape{x.shape(0), x.shape(1), g.out_h, g.out_w};
  py::array y = empty_array(dtype, out_shape);
  py::array_t<int64_t> indices(std::vector<py::ssize_t>(out_shape.begin(), out_shape.end()));
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    int64_t* ip = indices.mutable_data();
    py::gil_scoped_release release;
    max_pool2d_forward<T>(g, ptr<T>(x), mut<T>(y), ip);
  });
  return py::make_tuple(y, indices);
}

py::array max_pool2d_backward_py(const py::handle& dy_obj, const py::handle& indices_obj, const Ints& input_shape) {
  constexpr const char* op = "max_pool2d_backward";
  DType dtype;
  py::array dy = contiguous_float(dy_obj, op, "grad_output", &dtype);
  py::array idx_any = as_array(indices_obj, op, "indices");
  if (idx_any.dtype().kind() != 'i' || idx_any.itemsize() != 8)
    fail_type(op, ": indices must be int64, got ", std::string(py::str(idx_any.dtype())));
  auto indices = py::array_t<int64_t, py::array::c_style>::ensure(idx_any);
  check_ints(input_shape, 0, 0, op, "input_shape");
  if (dy.ndim() != 4 || input_shape.size() != 4 || dy.shape(0) != input_shape[0] || dy.shape(1) != input_shape[1])
    fail_value(op, ": grad_output has shape ", shape_str(dy), " but the input has shape ", ints_str(input_shape));
  if (shape_of(indices) != shape_of(dy))
    fail_value(op, ": indices have shape ", shape_str(indices), " but grad_output has shape ", shape_str(dy));
  const int64_t plane = input_shape[2] * input_shape[3];
  const int64_t* ip = indices.data();
  Pool2dShape g;
  g.planes = input_shape[0] * input_shape[1];
  g.h = input_shape[2];
  g.w = input_shape[3];
  g.out_h = dy.shape(2);
  g.out_w = dy.shape(3);
  py::array dx = empty_array(dtype, input_shape);
  int64_t outside = 0;
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    outside = max_pool2d_backward<T>(g, ptr<T>(dy), ip, mut<T>(dx));
  });
  if (outside > 0)  // the kernel counted them; name the first for the message
    for (py::ssize_t i = 0; i < indices.size(); ++i)
      if (ip[i] < 0 || ip[i] >= plane)
        fail_value(op, ": indices holds ", ip[i], " at flat position ", i, ", outside an input plane of ", plane,
                   " elements (input_shape ", ints_str(input_shape), ")");
  return dx;
}

py::array avg_pool2d_forward_py(const py::handle& x_obj, const Ints& kernel_size, const Ints& stride,
                                const Ints& padding, bool ceil_mode, bool count_include_pad) {
  constexpr const char* op = "avg_pool2d";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "input", &dtype);
  const Pool2dShape g = pool_shape(op, shape_of(x), kernel_size, stride, padding, {1, 1}, ceil_mode);
  py::array y = empty_array(dtype, {x.shape(0), x.shape(1), g.out_h, g.out_w});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    avg_pool2d_forward<T>(g, count_include_pad, ptr<T>(x), mut<T>(y));
  });
  return y;
}

py::array avg_pool2d_backward_py(const py::handle& dy_obj, const Ints& input_shape, const Ints& kernel_size,
                                 const Ints& stride, const Ints& padding, bool ceil_mode, bool count_include_pad) {
  constexpr const char* op = "avg_pool2d_backward";
  DType dtype;
  py::array dy = contiguous_float(dy_obj, op, "grad_output", &dtype);
  check_ints(input_shape, 0, 0, op, "input_shape");
  const Pool2dShape g = pool_shape(op, input_shape, kernel_size, stride, padding, {1, 1}, ceil_mode);
  const Ints want{input_shape[0], input_shape[1], g.out_h, g.out_w};
  if (shape_of(dy) != want)
    fail_value(op, ": grad_output has shape ", shape_str(dy), " but the pooled output has shape ", ints_str(want));
  py::array dx = empty_array(dtype, input_shape);
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    avg_pool2d_backward<T>(g, count_include_pad, ptr<T>(dy), mut<T>(dx));
  });
  return dx;
}

Pool2dShape adaptive_shape(const char* op, const Ints& x, const Ints& output_size) {
  if (x.size() != 4) fail_value(op, ": input must be 4-D (N, C, H, W), got shape ", ints_str(x));
  check_ints(output_size, 2, 1, op, "output_size");
  if ((x[2] == 0 || x[3] == 0) && x[0] * x[1] > 0)
    fail_value(op, ": input has an empty plane, shape ", ints_str(x));
  Pool2dShape g;
  g.planes = x[0] * x[1];
  g.h = x[2];
  g.w = x[3];
  g.out_h = output_size[0];
  g.out_w = output_size[1];
  return g;
}

py::array adaptive_avg_pool2d_forward_py(const py::handle& x_obj, const Ints& output_size) {
  constexpr const char* op = "adaptive_avg_pool2d";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "input", &dtype);
  const Pool2dShape g = adaptive_shape(op, shape_of(x), output_size);
  py::array y = empty_array(dtype, {x.shape(0), x.shape(1), g.out_h, g.out_w});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    adaptive_avg_pool2d_forward<T>(g, ptr<T>(x), mut<T>(y));
  });
  return y;
}

py::array adaptive_avg_pool2d_backward_py(const py::handle& dy_obj, const Ints& input_shape) {
  constexpr const char* op = "adaptive_avg_pool2d_backward";
  DType dtype;
  py::array dy = contiguous_float(dy_obj, op, "grad_output", &dtype);
  check_ints(input_shape, 0, 0, op, "input_shape");
  if (dy.ndim() != 4) fail_value(op, ": grad_output must be 4-D, got shape ", shape_str(dy));
  const Pool2dShape g = adaptive_shape(op, input_shape, {dy.shape(2), dy.shape(3)});
  if (dy.shape(0) != input_shape[0] || dy.shape(1) != input_shape[1])
    fail_value(op, ": grad_output has shape ", shape_str(dy), " but the input has shape ", ints_str(input_shape));
  py::array dx = empty_array(dtype, input_shape);
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    py::gil_scoped_release release;
    adaptive_avg_pool2d_backward<T>(g, ptr<T>(dy), mut<T>(dx));
  });
  return dx;
}

// ---- batch normalisation ------------------------------------------------------------

BatchNormShape batch_norm_shape(const char* op, const py::array& x) {
  if (x.ndim() < 2) fail_value(op, ": input must be (N, C) or (N, C, *), got shape ", shape_str(x));
  BatchNormShape g;
  g.n = x.shape(0);
  g.c = x.shape(1);
  for (py::ssize_t d = 2; d < x.ndim(); ++d) g.s *= x.shape(d);
  return g;
}

// An optional per-channel vector (C,); `in_place` ones are written and must be the caller's own memory.
py::array channel_vector(const py::object& obj, DType dtype, int64_t c, bool in_place, const char* op,
                         const char* arg) {
  if (obj.is_none()) return py::array();
  py::array a = in_place ? as_array(obj, op, arg) : contiguous_float(obj, op, arg);
  check_same_dtype(dtype, a, op, arg);
  if (a.ndim() != 1 || a.shape(0) != c)
    fail_value(op, ": ", arg, " has shape ", shape_str(a), " but the input has ", c, " channels");
  if (in_place) {
    if (!(a.flags() & py::array::c_style)) fail_value(op, ": ", arg, " must be contiguous (it is updated in place)");
    check_writable(a, op, arg);
  }
  return a;
}

template <typename T>
const T* optional_ptr(const py::object& obj, const py::array& a) {
  return obj.is_none() ? nullptr : ptr<T>(a);
}

py::tuple batch_norm_forward_py(const py::handle& x_obj, const py::object& mean_obj, const py::object& var_obj,
                                const py::object& weight_obj, const py::object& bias_obj, bool training,
                                double momentum, double eps) {
  constexpr const char* op = "batch_norm";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "input", &dtype);
  const BatchNormShape g = batch_norm_shape(op, x);
  py::array rm = channel_vector(mean_obj, dtype, g.c, true, op, "running_mean");
  py::array rv = channel_vector(var_obj, dtype, g.c, true, op, "running_var");
  py::array weight = channel_vector(weight_obj, dtype, g.c, false, op, "weight");
  py::array bias = channel_vector(bias_obj, dtype, g.c, false, op, "bias");
  if (mean_obj.is_none() != var_obj.is_none())
    fail_value(op, ": running_mean and running_var must be given together");
  if (!training && mean_obj.is_none()) fail_value(op, ": evaluation mode needs running_mean and running_var");
  if (training && g.n * g.s <= 1)
    fail_value(op, ": expected more than 1 value per channel when training, got input shape ", shape_str(x));
  if (eps < 0) fail_value(op, ": eps must be >= 0, got ", eps);
  py::array y = empty_array(dtype, shape_of(x));
  py::array save_mean = empty_array(dtype, {g.c});
  py::array save_invstd = empty_array(dtype, {g.c});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    T* rmp = mean_obj.is_none() ? nullptr : mut<T>(rm);
    T* rvp = var_obj.is_none() ? nullptr : mut<T>(rv);
    const T* wp = optional_ptr<T>(weight_obj, weight);
    const T* bp = optional_ptr<T>(bias_obj, bias);
    py::gil_scoped_release release;
    batch_norm_forward<T>(g, ptr<T>(x), wp, bp, rmp, rvp, training, momentum, eps, mut<T>(y), mut<T>(save_mean),
                          mut<T>(save_invstd));
  });
  return py::make_tuple(y, save_mean, save_invstd);
}

py::tuple batch_norm_backward_py(const py::handle& dy_obj, const py::handle& x_obj, const py::object& weight_obj,
                                 const py::handle& mean_obj, const py::handle& invstd_obj, bool training) {
  constexpr const char* op = "batch_norm_backward";
  DType dtype;
  py::array x = contiguous_float(x_obj, op, "input", &dtype);
  py::array dy = contiguous_float(dy_obj, op, "grad_output");
  check_same_dtype(dtype, dy, op, "grad_output");
  if (shape_of(dy) != shape_of(x))
    fail_value(op, ": grad_output has shape ", shape_str(dy), " but the input has shape ", shape_str(x));
  const BatchNormShape g = batch_norm_shape(op, x);
  py::array weight = channel_vector(weight_obj, dtype, g.c, false, op, "weight");
  py::array mean = channel_vector(py::reinterpret_borrow<py::object>(mean_obj), dtype, g.c, false, op, "save_mean");
  py::array invstd =
      channel_vector(py::reinterpret_borrow<py::object>(invstd_obj), dtype, g.c, false, op, "save_invstd");
  if (mean_obj.is_none() || invstd_obj.is_none()) fail_value(op, ": save_mean and save_invstd are required");
  py::array dx = empty_array(dtype, shape_of(x));
  py::array dweight = empty_array(dtype, {g.c});
  py::array dbias = empty_array(dtype, {g.c});
  dispatch_float(dtype, [&](auto t) {
    using T = decltype(t);
    const T* wp = optional_ptr<T>(weight_obj, weight);
    py::gil_scoped_release release;
    batch_norm_backward<T>(g, ptr<T>(dy), ptr<T>(x), wp, ptr<T>(mean), ptr<T>(invstd), training, mut<T>(dx),
                           mut<T>(dweight), mut<T>(dbias));
  });
  return py::make_tuple(dx, dweight, dbias);
}

}  // namespace

void bind_conv(py::module_& m) {
  const Ints one{1, 1}, no_pad{0, 0, 0, 0};
  m.def("conv_scratch_budget", [] { return conv_scratch_budget(); },
        "bytes of column scratch a convolution may use; larger batches are processed in chunks");
  m.def("set_conv_scratch_budget", [](int64_t bytes) {
    if (bytes < 1) fail_value("set_conv_scratch_budget: bytes must be >= 1, got ", bytes);
    set_conv_scratch_budget(static_cast<std::size_t>(bytes));
  }, py::arg("bytes"));
  m.def("conv2d_forward", &conv2d_forward_py, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        py::arg("stride") = one, py::arg("padding") = no_pad, py::arg("dilation") = one, py::arg("groups") = 1,
        "y = conv2d(input, weight) + bias; padding is (top, bottom, left, right)");
  m.def("conv2d_backward_input", &conv2d_backward_input_py, py::arg("grad_output"), py::arg("weight"),
        py::arg("input_shape"), py::arg("stride") = one, py::arg("padding") = no_pad, py::arg("dilation") = one,
        py::arg("groups") = 1, "d(loss)/d(input) of conv2d: GEMM + col2im");
  m.def("conv2d_backward_weight", &conv2d_backward_weight_py, py::arg("input"), py::arg("grad_output"),
        py::arg("weight_shape"), py::arg("stride") = one, py::arg("padding") = no_pad, py::arg("dilation") = one,
        py::arg("groups") = 1, "d(loss)/d(weight) of conv2d, summed over the batch in a fixed order");
  m.def("conv2d_backward_bias", &conv2d_backward_bias_py, py::arg("grad_output"),
        "d(loss)/d(bias) of conv2d: grad_output summed over N, H, W");
  m.def("im2col", &im2col_py, py::arg("x"), py::arg("kernel_size"), py::arg("stride") = one,
        py::arg("padding") = no_pad, py::arg("dilation") = one,
        "(C, H, W) -> (C*kh*kw, Hout*Wout) columns of receptive fields");
  m.def("col2im", &col2im_py, py::arg("cols"), py::arg("image_shape"), py::arg("kernel_size"),
        py::arg("stride") = one, py::arg("padding") = no_pad, py::arg("dilation") = one,
        "the adjoint of im2col: columns added back into a (C, H, W) image");
  m.def("max_pool2d_forward", &max_pool2d_forward_py, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding") = Ints{0, 0}, py::arg("dilation") = one, py::arg("ceil_mode") = false,
        "(output, indices); indices are flat positions ih*W + iw in each input plane");
  m.def("max_pool2d_backward", &max_pool2d_backward_py, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_shape"), "routes each output gradient to its window's arg-max");
  m.def("avg_pool2d_forward", &avg_pool2d_forward_py, py::arg("input"), py::arg("kernel_size"), py::arg("stride"),
        py::arg("padding") = Ints{0, 0}, py::arg("ceil_mode") = false, py::arg("count_include_pad") = true);
  m.def("avg_pool2d_backward", &avg_pool2d_backward_py, py::arg("grad_output"), py::arg("input_shape"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding") = Ints{0, 0}, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true);
  m.def("adaptive_avg_pool2d_forward", &adaptive_avg_pool2d_forward_py, py::arg("input"), py::arg("output_size"));
  m.def("adaptive_avg_pool2d_backward", &adaptive_avg_pool2d_backward_py, py::arg("grad_output"),
        py::arg("input_shape"));
  m.def("batch_norm_forward", &batch_norm_forward_py, py::arg("input"), py::arg("running_mean"),
        py::arg("running_var"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
        py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5,
        "(output, save_mean, save_invstd); running statistics are updated in place when training");
  m.def("batch_norm_backward", &batch_norm_backward_py, py::arg("grad_output"), py::arg("input"), py::arg("weight"),
        py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"), "(grad_input, grad_weight, grad_bias)");
}

}  // namespace bind
}  // namespace pyengine
