// CUDA kernel of dacs::lsh_buckets (Eq. 6): one thread per (round, sample) pair,
// grid-stride. Consecutive threads share a round, so a warp reads the same
// rotation entries (an L1 broadcast) while each thread walks its own row of z.

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../dacs.h"
#include "cuda_utils.cuh"

namespace dacs {
namespace {

constexpr int kThreads = 256;

// z [n, d]; rotation [rounds, d, half] in acc_t; out [rounds, n] bucket in [0, 2 * half).
template <typename scalar_t>
__global__ void __launch_bounds__(kThreads)
    lsh_buckets_kernel(const scalar_t* __restrict__ z, int64_t n, int64_t d,
                       const at::opmath_type<scalar_t>* __restrict__ rotation, int64_t rounds,
                       int64_t half, int64_t* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t total = rounds * n;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += stride) {
    const int64_t r = idx / n, i = idx % n;
    const scalar_t* row = z + i * d;
    const acc_t* rot = rotation + r * d * half;
    // p_j summed over k ascending, as the CPU kernel's register tiles do; whether
    // both compilers contract it into the same FMAs is not promised, so near-ties
    // may fall to different buckets (the tests allow for that against float64).
    out[idx] = lsh_bucket<acc_t>(half, [&](int64_t j) {
      acc_t p = acc_t(0);
      for (int64_t k = 0; k < d; ++k) p += static_cast<acc_t>(row[k]) * rot[k * half + j];
      return p;
    });
  }
}

at::Tensor lsh_buckets_cuda(const at::Tensor& z_in, const at::Tensor& rotation_in) {
  check_lsh_buckets_args(z_in, rotation_in);
  const c10::cuda::CUDAGuard guard(z_in.device());
  const auto z = z_in.contiguous();
  const auto rotation = rotation_in.to(accumulation_dtype(z.scalar_type())).contiguous();
  const int64_t rounds = rotation.size(0), n = z.size(0), d = z.size(1),
                half = rotation.size(2);
  auto out = at::empty({rounds, n}, z.options().dtype(at::kLong));
  if (n == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "lsh_buckets_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    lsh_buckets_kernel<scalar_t>
        <<<cuda::grid_stride_blocks(rounds * n, kThreads), kThreads, 0, stream>>>(
            z.const_data_ptr<scalar_t>(), n, d, rotation.const_data_ptr<acc_t>(), rounds, half,
            out.mutable_data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("lsh_buckets", &lsh_buckets_cuda); }

}  // namespace dacs
