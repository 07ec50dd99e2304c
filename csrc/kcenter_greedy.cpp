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
