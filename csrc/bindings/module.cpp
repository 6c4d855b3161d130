// The extension module pyengine._C: selects the CPU dispatch path once, maps
// C++ errors to Python exceptions and registers every kernel family.
#include <pybind11/stl.h>

#include <cstdlib>

#include "bindings/common.h"
#include "core/buffer.h"
#include "core/cpu.h"
#include "core/dispatch.h"
#include "core/parallel.h"

namespace py = pybind11;

namespace pyengine {
namespace bind {
void bind_elementwise(py::module_& m);
void bind_gemm(py::module_& m);
void bind_conv(py::module_& m);
void bind_optim(py::module_& m);
void bind_rnn(py::module_& m);
void bind_loss(py::module_& m);
}  // namespace bind
}  // namespace pyengine

namespace {

py::dict info() {
  using namespace pyengine;
  const CpuInfo& cpu = cpu_info();
  py::list compiled;
  for (int i = 0; i < kIsaCount; ++i)
    if (isa_compiled(static_cast<Isa>(i))) compiled.append(isa_name(static_cast<Isa>(i)));
  py::list cpu_features;
  if (cpu.avx2) cpu_features.append("avx2");
  if (cpu.fma) cpu_features.append("fma");
  if (cpu.avx512f) cpu_features.append("avx512f");
  if (cpu.neon) cpu_features.append("neon");
  py::dict d;
  d["version"] = PYENGINE_VERSION;
  d["compiler"] = PYENGINE_COMPILER;
  d["isa_compiled"] = compiled;
  d["isa"] = isa_name(active_isa());
  d["isa_best"] = isa_name(best_isa());
  d["cpu_features"] = cpu_features;
  d["openmp"] = openmp_enabled();
  d["num_threads"] = get_num_threads();
  d["cache_l1d"] = cpu.l1d;
  d["cache_l2"] = cpu.l2;
  d["cache_l3"] = cpu.l3;
  return d;
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "pyengine's C++ kernels (see pyengine/_C.pyi for the typed contract)";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const pyengine::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const pyengine::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  const char* forced = std::getenv("PYENGINE_ISA");
  pyengine::select_isa(forced ? forced : "");

  m.def("info", &info, "Build and runtime facts: version, compiler, instruction sets, threads, caches.");
  m.def("get_num_threads", &pyengine::get_num_threads);
  m.def("set_num_threads", [](int n) {
    if (n < 1) pyengine::fail_value("set_num_threads: n must be >= 1, got ", n);
    pyengine::set_num_threads(n);
  }, py::arg("n"));
  m.def("scratch_pool_stats", [] {
    const auto s = pyengine::scratch_pool_stats();
    py::dict d;
    d["cached_blocks"] = s.cached_blocks;
    d["cached_bytes"] = s.cached_bytes;
    d["fresh_allocations"] = s.fresh_allocations;
    return d;
  });
  m.def("scratch_pool_clear", &pyengine::scratch_pool_clear);

  pyengine::bind::bind_elementwise(m);
  pyengine::bind::bind_gemm(m);
  pyengine::bind::bind_conv(m);
  pyengine::bind::bind_optim(m);
  pyengine::bind::bind_rnn(m);
  pyengine::bind::bind_loss(m);
}
