// The portable 2x2 max pooling kernel: the window scan on every output.
#include "kernels/conv/max_pool_scan.h"

namespace pyengine {
namespace scalar {
namespace {

template <typename T>
void max_pool_2x2_scan_plane(const Pool2dShape& g, const T* xp, T* yp, int64_t* ip) {
  const auto none_at_once = [](const T*, const T*, int64_t, int64_t, int64_t, int64_t, T*, int64_t*) {
    return int64_t(0);
  };
  max_pool_2x2_plane(g, xp, yp, ip, none_at_once);
}

}  // namespace

extern const MaxPoolTable max_pool_table = {{max_pool_2x2_scan_plane<float>}, {max_pool_2x2_scan_plane<double>}};

}  // namespace scalar
}  // namespace pyengine
