// CPU kernel of dacs::lsh_buckets (Eq. 6). Parallel over (round, sample) pairs.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

template <typename scalar_t>
void lsh_buckets_kernel(const scalar_t* z, int64_t n, int64_t d,
                        const at::opmath_type<scalar_t>* rotation, int64_t rounds,
                        int64_t half, int64_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  at::parallel_for(0, rounds * n, 256, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> projection(half);
    acc_t* p = projection.data();
    for (int64_t idx = begin; idx < end; ++idx) {
      const int64_t r = idx / n, i = idx % n;
      const scalar_t* row = z + i * d;
      const acc_t* rot = rotation + r * d * half;
      for (int64_t j = 0; j < half; ++j) p[j] = acc_t(0);
      for (int64_t k = 0; k < d; ++k) {
        const acc_t zk = static_cast<acc_t>(row[k]);
#pragma omp simd
        for (int64_t j = 0; j < half; ++j) p[j] += zk * rot[k * half + j];
      }
      out[r * n + i] = lsh_bucket<acc_t>(half, [p](int64_t j) { return p[j]; });
    }
  });
}

at::Tensor lsh_buckets_cpu(const at::Tensor& z_in, const at::Tensor& rotation_in) {
  check_lsh_buckets_args(z_in, rotation_in);
  const auto z = z_in.contiguous();
  const auto rotation = rotation_in.to(accumulation_dtype(z.scalar_type())).contiguous();
  const int64_t rounds = rotation.size(0), n = z.size(0), d = z.size(1),
                half = rotation.size(2);
  auto out = at::empty({rounds, n}, z.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "lsh_buckets_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    lsh_buckets_kernel<scalar_t>(z.const_data_ptr<scalar_t>(), n, d,
                                 rotation.const_data_ptr<acc_t>(), rounds, half,
                                 out.data_ptr<int64_t>());
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("lsh_buckets", &lsh_buckets_cpu); }

}  // namespace dacs
