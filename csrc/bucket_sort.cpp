#include "dacs.h"

namespace dacs {

void check_bucket_sort_args(const at::Tensor& buckets, int64_t num_buckets) {
  TORCH_CHECK(buckets.dim() == 1, "buckets must be 1-D [N], got ", buckets.sizes());
  TORCH_CHECK(buckets.scalar_type() == at::kLong, "buckets must be int64, got ",
              buckets.scalar_type());
  TORCH_CHECK(num_buckets >= 1, "num_buckets must be at least 1, got ", num_buckets);
}

}  // namespace dacs
