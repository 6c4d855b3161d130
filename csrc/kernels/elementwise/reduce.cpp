// The sum of a block of values in double precision, compiled once per ISA.
// The driver (driver.cpp) cuts an array into fixed blocks and adds the
// block sums in block order, so the total does not depend on the threads.
#include "kernels/elementwise/accumulate.h"
#include "kernels/elementwise/elementwise.h"

namespace pyengine {
namespace PYENGINE_CPU_ISA {

extern const ReduceTable reduce_table = {{sum_in_double<float>}, {sum_in_double<double>}};

}  // namespace PYENGINE_CPU_ISA
}  // namespace pyengine
