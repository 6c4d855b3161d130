# Compiled once, with portable flags: unfolding, drivers, pooling, batch norm, the dispatch table.
list(APPEND PYENGINE_CORE_SOURCES
  csrc/kernels/conv/im2col.cpp
  csrc/kernels/conv/col2im.cpp
  csrc/kernels/conv/conv2d.cpp
  csrc/kernels/conv/pool2d.cpp
  csrc/kernels/conv/batch_norm.cpp
  csrc/kernels/conv/dispatch.cpp
)
# Compiled once per instruction set: the direct convolution kernels, batch norm's plane
# passes and 2x2 max pooling.
list(APPEND PYENGINE_ISA_SOURCES
  csrc/kernels/conv/direct.cpp
  csrc/kernels/conv/batch_norm_rows.cpp
  csrc/kernels/conv/max_pool_2x2.cpp)
