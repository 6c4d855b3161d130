# Compiled once, with portable flags: the family's dispatch table and drivers.
list(APPEND PYENGINE_CORE_SOURCES csrc/kernels/optim/dispatch.cpp)
# Compiled once per instruction set (written against simd/vec.h).
list(APPEND PYENGINE_ISA_SOURCES csrc/kernels/optim/update.cpp)
