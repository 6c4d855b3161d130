# Compiled once, with portable flags: the family's dispatch table.
list(APPEND PYENGINE_CORE_SOURCES csrc/kernels/elementwise/dispatch.cpp)
# Compiled once per instruction set (written against simd/vec.h).
list(APPEND PYENGINE_ISA_SOURCES csrc/kernels/elementwise/unary.cpp)
