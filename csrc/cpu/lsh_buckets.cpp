// CPU kernel of dacs::lsh_buckets (Eq. 6). The projections z R of a slice of
// rows come from one matrix product (BLAS beats any hand loop here); the argmax
// over [zR ; -zR] is the shared lsh_bucket. Slices bound the temporary to
// kSliceRows x k/2 values whatever N is.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/mm.h>
#include <torch/library.h>

#include <algorithm>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

constexpr int64_t kSliceRows = 16384;

at::Tensor lsh_buckets_cpu(const at::Tensor& z_in, const at::Tensor& rotation_in) {
  check_lsh_buckets_args(z_in, rotation_in);
  const auto acc_dtype = accumulation_dtype(z_in.scalar_type());
  const auto z = z_in.contiguous();
  const auto rotation = rotation_in.to(acc_dtype).contiguous();
  const int64_t rounds = rotation.size(0), n = z.size(0), half = rotation.size(2);
  auto out = at::empty({rounds, n}, z.options().dtype(at::kLong));
  int64_t* out_ptr = out.data_ptr<int64_t>();
  for (int64_t first = 0; first < n; first += kSliceRows) {
    const int64_t rows = std::min(kSliceRows, n - first);
    const auto slice = z.narrow(0, first, rows).to(acc_dtype);
    for (int64_t r = 0; r < rounds; ++r) {
      const auto projection = at::mm(slice, rotation[r]);  // [rows, k/2], contiguous
      AT_DISPATCH_FLOATING_TYPES(acc_dtype, "lsh_buckets_cpu", [&] {
        const scalar_t* p = projection.const_data_ptr<scalar_t>();
        int64_t* o = out_ptr + r * n + first;
        at::parallel_for(0, rows, 1024, [&](int64_t i0, int64_t i1) {
          for (int64_t i = i0; i < i1; ++i) {
            const scalar_t* row = p + i * half;
            o[i] = lsh_bucket<scalar_t>(half, [row](int64_t j) { return row[j]; });
          }
        });
      });
    }
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("lsh_buckets", &lsh_buckets_cpu); }

}  // namespace dacs
