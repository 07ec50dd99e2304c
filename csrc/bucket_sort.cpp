#include <torch/library.h>

#include "dacs.h"

namespace dacs {

void check_bucket_sort_args(const at::Tensor& buckets, int64_t num_buckets) {
  TORCH_CHECK(buckets.dim() == 1, "buckets must be 1-D [N], got ", buckets.sizes());
  TORCH_CHECK(buckets.scalar_type() == at::kLong, "buckets must be int64, got ",
              buckets.scalar_type());
  TORCH_CHECK(num_buckets >= 1, "num_buckets must be at least 1, got ", num_buckets);
}

}  // namespace dacs

// The op's schema, beside the checks every backend runs.
TORCH_LIBRARY_FRAGMENT(dacs, m) {
  // Stable counting sort: buckets [N] int64 in [0, num_buckets) -> order [N] int64.
  // On CUDA its range check is read back by the host (a sync), so the op cannot be
  // captured in a CUDA graph.
  m.def("bucket_sort(Tensor buckets, int num_buckets) -> Tensor", {at::Tag::cudagraph_unsafe});
}
