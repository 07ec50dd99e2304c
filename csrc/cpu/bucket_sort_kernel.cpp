// CPU kernel of dacs::bucket_sort: a stable counting sort. Each of P contiguous
// slices counts its buckets, the counts are turned into per-slice write offsets,
// and every slice scatters its indices in order, which keeps ties in index order.

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

at::Tensor bucket_sort_cpu(const at::Tensor& buckets_in, int64_t num_buckets) {
  check_bucket_sort_args(buckets_in, num_buckets);
  const auto buckets = buckets_in.contiguous();
  const int64_t n = buckets.size(0);
  auto order = at::empty({n}, buckets.options());
  if (n == 0) return order;
  const int64_t* b = buckets.const_data_ptr<int64_t>();
  int64_t* out = order.data_ptr<int64_t>();

  constexpr int64_t kSliceRows = 1 << 16;
  const int64_t slices =
      std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n / kSliceRows));
  auto slice_begin = [&](int64_t s) { return s * n / slices; };
  std::vector<int64_t> offsets(slices * num_buckets, 0);
  std::atomic<bool> out_of_range{false};

  at::parallel_for(0, slices, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      int64_t* count = offsets.data() + s * num_buckets;
      for (int64_t i = slice_begin(s); i < slice_begin(s + 1); ++i) {
        if (b[i] < 0 || b[i] >= num_buckets) {
          out_of_range = true;
          return;
        }
        ++count[b[i]];
      }
    }
  });
  TORCH_CHECK(!out_of_range, "buckets must hold values in [0, num_buckets = ", num_buckets,
              ")");

  int64_t running = 0;
  for (int64_t k = 0; k < num_buckets; ++k) {
    for (int64_t s = 0; s < slices; ++s) {
      const int64_t count = offsets[s * num_buckets + k];
      offsets[s * num_buckets + k] = running;
      running += count;
    }
  }

  at::parallel_for(0, slices, 1, [&](int64_t s0, int64_t s1) {
    for (int64_t s = s0; s < s1; ++s) {
      int64_t* next = offsets.data() + s * num_buckets;
      for (int64_t i = slice_begin(s); i < slice_begin(s + 1); ++i) out[next[b[i]]++] = i;
    }
  });
  return order;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("bucket_sort", &bucket_sort_cpu); }

}  // namespace dacs
