# Compiled once, with portable flags: unfolding, drivers, pooling, batch norm, the portable
# 2x2 max pooling kernel, the dispatch tables.
list(APPEND PYENGINE_CORE_SOURCES
  csrc/kernels/conv/im2col.cpp
  csrc/kernels/conv/col2im.cpp
  csrc/kernels/conv/conv2d.cpp
  csrc/kernels/conv/winograd.cpp
  csrc/kernels/conv/pool2d.cpp
  csrc/kernels/conv/batch_norm.cpp
  csrc/kernels/conv/max_pool_2x2.cpp
  csrc/kernels/conv/dispatch.cpp
)
# Compiled once per instruction set (written against simd/vec.h): the direct
# convolution kernels, the Winograd transforms and batch norm's plane passes.
list(APPEND PYENGINE_ISA_SOURCES
  csrc/kernels/conv/direct.cpp
  csrc/kernels/conv/winograd_tiles.cpp
  csrc/kernels/conv/batch_norm_rows.cpp)
# Hand-written AVX2 intrinsics: 2x2 max pooling.
list(APPEND PYENGINE_AVX2_ONLY_SOURCES csrc/kernels/conv/max_pool_2x2_avx2.cpp)
