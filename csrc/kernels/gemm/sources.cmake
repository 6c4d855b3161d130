# Compiled once, with portable flags: the driver (loops, threads, dispatch
# table), packing and the scalar reference kernels.
list(APPEND PYENGINE_CORE_SOURCES
  csrc/kernels/gemm/driver.cpp
  csrc/kernels/gemm/pack.cpp
  csrc/kernels/gemm/ukernel_ref.cpp)
# Hand-written AVX2+FMA kernels.
list(APPEND PYENGINE_AVX2_ONLY_SOURCES csrc/kernels/gemm/ukernel_avx2.cpp)
