#include <torch/library.h>

#include "dacs.h"

namespace dacs {

Metric check_min_distance_args(const at::Tensor& x, const at::Tensor& y,
                               c10::string_view metric) {
  check_features(x, "x");
  check_features(y, "y");
  TORCH_CHECK(y.size(0) >= 1, "y must have at least one row, got ", y.sizes());
  TORCH_CHECK(x.size(1) == y.size(1), "x and y must have the same width d, got x ",
              x.sizes(), " and y ", y.sizes());
  TORCH_CHECK(x.scalar_type() == y.scalar_type(), "y must have x's dtype ",
              x.scalar_type(), ", got ", y.scalar_type());
  TORCH_CHECK(x.device() == y.device(), "y must be on x's device ", x.device(), ", got ",
              y.device());
  return parse_metric(metric);
}

}  // namespace dacs

// The op's schema, beside the checks every backend runs.
TORCH_LIBRARY_FRAGMENT(dacs, m) {
  // Distance from every row of x [N, d] to its nearest row of y [M, d] -> [N].
  // metric: 'cosine' (1 - x.y, unit rows) or 'euclidean'.
  m.def("min_distance(Tensor x, Tensor y, str metric) -> Tensor");
}
