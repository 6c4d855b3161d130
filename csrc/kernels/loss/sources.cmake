# Compiled once, with portable flags: the dispatch table and the CTC
# recursions (scalar log-sum-exp chains, parallel over the batch).
list(APPEND PYENGINE_CORE_SOURCES csrc/kernels/loss/dispatch.cpp csrc/kernels/loss/ctc.cpp)
# Compiled once per instruction set (written against simd/vec.h).
list(APPEND PYENGINE_ISA_SOURCES csrc/kernels/loss/cross_entropy.cpp)
