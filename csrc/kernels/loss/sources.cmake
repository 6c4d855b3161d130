# Compiled once, with portable flags: the dispatch tables.
list(APPEND PYENGINE_CORE_SOURCES csrc/kernels/loss/dispatch.cpp)
# Compiled once per instruction set (written against simd/vec.h and simd/math.h).
list(APPEND PYENGINE_ISA_SOURCES csrc/kernels/loss/cross_entropy.cpp csrc/kernels/loss/ctc.cpp)
