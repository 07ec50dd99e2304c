#include <torch/library.h>

#include "dacs.h"

namespace dacs {

Metric check_kcenter_greedy_args(const at::Tensor& x, const at::Tensor& min_dist,
                                 int64_t budget, c10::string_view metric,
                                 const std::optional<at::Tensor>& center_side) {
  check_features(x, "x");
  const int64_t n = x.size(0);
  TORCH_CHECK(min_dist.dim() == 1 && min_dist.size(0) == n,
              "min_dist must be 1-D [N] with N = ", n, " to match x, got ",
              min_dist.sizes());
  const auto acc = accumulation_dtype(x.scalar_type());
  TORCH_CHECK(min_dist.scalar_type() == acc, "min_dist must be ", acc, " for x of dtype ",
              x.scalar_type(), ", got ", min_dist.scalar_type());
  TORCH_CHECK(min_dist.device() == x.device(), "min_dist must be on x's device ",
              x.device(), ", got ", min_dist.device());
  TORCH_CHECK(budget >= 0 && budget <= n, "budget must be in [0, N = ", n, "], got ",
              budget);
  if (center_side.has_value()) {
    const at::Tensor& c = *center_side;
    TORCH_CHECK(c.sizes() == x.sizes(), "center_side must have x's shape ", x.sizes(), ", got ",
                c.sizes());
    TORCH_CHECK(c.scalar_type() == x.scalar_type(), "center_side must have x's dtype ",
                x.scalar_type(), ", got ", c.scalar_type());
    TORCH_CHECK(c.device() == x.device(), "center_side must be on x's device ", x.device(),
                ", got ", c.device());
  }
  return parse_metric(metric);
}

}  // namespace dacs

// The op's schema, beside the checks every backend runs.
TORCH_LIBRARY_FRAGMENT(dacs, m) {
  // Algorithm 1 lines 7-10: budget greedy farthest-point picks over x [N, d] given
  // each row's distance to the current centers min_dist [N] (-inf excludes a row)
  // -> int64 [budget]. A picked row j becomes the center center_side[j] [d]
  // (default x[j]): the distance of row i to it pairs x[i] with center_side[j], so
  // an asymmetric pairing (CDAL's symmetric KL) runs on the same kernels. On CUDA its
  // failure check is read back by the host, so it cannot be captured in a CUDA graph.
  m.def("kcenter_greedy(Tensor x, Tensor min_dist, int budget, str metric, Tensor? center_side=None) -> Tensor",
        {at::Tag::cudagraph_unsafe});
}
