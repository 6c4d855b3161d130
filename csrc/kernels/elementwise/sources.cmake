# Compiled once, with portable flags: the family's dispatch tables and drivers.
list(APPEND PYENGINE_CORE_SOURCES
  csrc/kernels/elementwise/dispatch.cpp
  csrc/kernels/elementwise/driver.cpp)
# Compiled once per instruction set (written against simd/vec.h).
list(APPEND PYENGINE_ISA_SOURCES
  csrc/kernels/elementwise/unary.cpp
  csrc/kernels/elementwise/binary.cpp
  csrc/kernels/elementwise/softmax.cpp
  csrc/kernels/elementwise/reduce.cpp)
