// CUDA kernel of dacs::bucket_sort: a stable sort of the indices by bucket. The
// values are range-checked first (one host sync), then CUB's LSD radix sort, a
// stable sequence of counting sorts, orders (bucket, index) pairs on only the
// ceil(log2(num_buckets)) low bits that can differ.

#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cub/device/device_radix_sort.cuh>

#include <algorithm>
#include <bit>

#include "../dacs.h"
#include "cuda_utils.cuh"

namespace dacs {
namespace {

constexpr int kThreads = 256;

// buckets [n]; sets *out_of_range to 1 if any value lies outside [0, num_buckets).
__global__ void __launch_bounds__(kThreads)
    find_out_of_range_kernel(const int64_t* __restrict__ buckets, int64_t n,
                             int64_t num_buckets, int32_t* out_of_range) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    if (buckets[i] < 0 || buckets[i] >= num_buckets) *out_of_range = 1;
  }
}

at::Tensor bucket_sort_cuda(const at::Tensor& buckets_in, int64_t num_buckets) {
  check_bucket_sort_args(buckets_in, num_buckets);
  const c10::cuda::CUDAGuard guard(buckets_in.device());
  const auto buckets = buckets_in.contiguous();
  const int64_t n = buckets.size(0);
  auto order = at::empty({n}, buckets.options());
  if (n == 0) return order;
  const auto stream = c10::cuda::getCurrentCUDAStream();

  auto out_of_range = at::zeros({1}, buckets.options().dtype(at::kInt));
  find_out_of_range_kernel<<<cuda::grid_stride_blocks(n, kThreads), kThreads, 0, stream>>>(
      buckets.const_data_ptr<int64_t>(), n, num_buckets, out_of_range.mutable_data_ptr<int32_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  TORCH_CHECK(out_of_range.item<int32_t>() == 0,
              "buckets must hold values in [0, num_buckets = ", num_buckets, ")");

  // Values now lie in [0, num_buckets), so bits [0, end_bit) order them; one bit at
  // least so that CUB always runs a (stable, identity) pass when num_buckets is 1.
  const int end_bit =
      std::max(1, static_cast<int>(std::bit_width(static_cast<uint64_t>(num_buckets - 1))));
  const auto indices = at::arange(n, buckets.options());
  auto sorted_buckets = at::empty({n}, buckets.options());
  const int64_t* keys_in = buckets.const_data_ptr<int64_t>();
  int64_t* keys_out = sorted_buckets.mutable_data_ptr<int64_t>();
  const int64_t* values_in = indices.const_data_ptr<int64_t>();
  int64_t* values_out = order.mutable_data_ptr<int64_t>();

  size_t temp_bytes = 0;
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, keys_in, keys_out,
                                                 values_in, values_out, n, 0, end_bit,
                                                 stream));
  auto temp = at::empty({static_cast<int64_t>(temp_bytes)}, buckets.options().dtype(at::kByte));
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.mutable_data_ptr(), temp_bytes, keys_in,
                                                 keys_out, values_in, values_out, n, 0,
                                                 end_bit, stream));
  return order;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("bucket_sort", &bucket_sort_cuda); }

}  // namespace dacs
