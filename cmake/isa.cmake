# Per-ISA compilation: every file in PYENGINE_ISA_SOURCES is compiled once for
# each instruction set the compiler can target, as an object library with
# -DPYENGINE_CPU_ISA=<name> and that ISA's flags. The dispatch tables
# (csrc/*/dispatch.cpp, compiled with portable flags) reference the variants
# that were built, told by PYENGINE_HAVE_<ISA> definitions.
include(CheckCXXCompilerFlag)

set(PYENGINE_ISAS scalar)
set(PYENGINE_ISA_FLAGS_scalar "")

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64|i686")
  check_cxx_compiler_flag("-mavx2 -mfma" PYENGINE_CXX_HAS_AVX2)
  if(PYENGINE_CXX_HAS_AVX2)
    list(APPEND PYENGINE_ISAS avx2)
    set(PYENGINE_ISA_FLAGS_avx2 -mavx2 -mfma -mf16c)
  else()
    message(WARNING "pyengine: the compiler cannot target AVX2+FMA; only the scalar kernels are built")
  endif()
  # AVX-512 kernels are written only once a machine with AVX-512 can run their
  # tests; the dispatch table already has the slot (Isa::avx512).
endif()

function(pyengine_add_isa_variants target)
  foreach(isa IN LISTS PYENGINE_ISAS)
    set(srcs ${PYENGINE_ISA_SOURCES})
    if(isa STREQUAL "avx2")
      list(APPEND srcs ${PYENGINE_AVX2_ONLY_SOURCES})
    endif()
    set(lib ${target}_${isa})
    add_library(${lib} OBJECT ${srcs})
    target_include_directories(${lib} PRIVATE ${CMAKE_SOURCE_DIR}/csrc)
    target_compile_definitions(${lib} PRIVATE PYENGINE_CPU_ISA=${isa})
    target_compile_options(${lib} PRIVATE ${PYENGINE_ISA_FLAGS_${isa}})
    if(PYENGINE_OPENMP)
      target_link_libraries(${lib} PRIVATE OpenMP::OpenMP_CXX)
    endif()
    target_sources(${target} PRIVATE $<TARGET_OBJECTS:${lib}>)
    string(TOUPPER ${isa} ISA_UPPER)
    target_compile_definitions(${target} PUBLIC PYENGINE_HAVE_${ISA_UPPER}=1)
  endforeach()
endfunction()
