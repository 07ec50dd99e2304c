#include <torch/library.h>

#include <cstdint>
#include <limits>

#include "dacs.h"

namespace dacs {

void check_natural_breaks_args(const at::Tensor& values, int64_t classes) {
  TORCH_CHECK(values.dim() == 1, "values must be 1-D [N], got ", values.sizes());
  TORCH_CHECK(at::isFloatingType(values.scalar_type()), "values must be a floating tensor, got ",
              values.scalar_type());
  TORCH_CHECK(classes >= 2, "classes must be at least 2, got ", classes);
  TORCH_CHECK(values.numel() >= classes, "values must hold at least classes = ", classes,
              " values, got ", values.numel());
  // The CPU solver indexes the sorted values with int32.
  TORCH_CHECK(values.numel() <= std::numeric_limits<int32_t>::max(), "values must hold at most 2^31 - 1 values, got ",
              values.numel());
}

}  // namespace dacs

// The op's schema, beside the checks every backend runs.
TORCH_LIBRARY_FRAGMENT(dacs, m) {
  // Exact Fisher-Jenks breaks of values [N] into `classes` groups -> [classes + 1]
  // in values' dtype: the minimum, the largest value of each group but the last,
  // the maximum (jenkspy.jenks_breaks). CUDA values are solved on the CPU, so the op
  // cannot be captured in a CUDA graph.
  m.def("natural_breaks(Tensor values, int classes) -> Tensor", {at::Tag::cudagraph_unsafe});
}
