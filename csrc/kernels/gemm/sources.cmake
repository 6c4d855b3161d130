list(APPEND PYENGINE_CORE_SOURCES csrc/kernels/gemm/driver.cpp)
