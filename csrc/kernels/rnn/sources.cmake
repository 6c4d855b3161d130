# Compiled once, with portable flags: the sequence drivers and the dispatch table.
list(APPEND PYENGINE_CORE_SOURCES csrc/kernels/rnn/sequence.cpp csrc/kernels/rnn/dispatch.cpp)
# Compiled once per instruction set (written against simd/vec.h): the fused gate passes.
list(APPEND PYENGINE_ISA_SOURCES csrc/kernels/rnn/rnn_cell.cpp csrc/kernels/rnn/lstm_cell.cpp
     csrc/kernels/rnn/gru_cell.cpp)
