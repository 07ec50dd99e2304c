// CUDA kernel of dacs::min_distance: one thread per row of x keeps a running best
// while its block sweeps all of y through shared-memory tiles (sweep_rows), so
// memory stays O(tile) per block whatever N * M is. As on the CPU, the cosine
// metric tracks the largest dot and the Euclidean metric the smallest squared
// distance; both map to the distance monotonically, so the minimum is exact.

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <limits>

#include "../dacs.h"
#include "cuda_utils.cuh"

namespace dacs {
namespace {

constexpr int kThreads = 256;

// x [n, d], y [m, d] with m >= 1; out [n] distance to the nearest row of y.
template <typename scalar_t, Metric kMetric>
__global__ void __launch_bounds__(kThreads)
    min_distance_kernel(const scalar_t* __restrict__ x, int64_t n,
                        const scalar_t* __restrict__ y, int64_t m, int64_t d,
                        at::opmath_type<scalar_t>* __restrict__ out) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr bool kCosine = kMetric == Metric::Cosine;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  // Threads past the last row still load tiles of y; they sweep with row n - 1.
  const scalar_t* own = x + (i < n ? i : n - 1) * d;
  acc_t best = kCosine ? -std::numeric_limits<acc_t>::infinity()
                       : std::numeric_limits<acc_t>::infinity();
  // The comparisons are the CPU kernel's, so a NaN candidate never replaces best.
  cuda::sweep_rows<kCosine ? cuda::PairOp::Dot : cuda::PairOp::SquaredDistance>(
      own, y, 0, m, d, [&](int64_t, acc_t s) {
        if constexpr (kCosine) {
          best = s > best ? s : best;
        } else {
          best = s < best ? s : best;
        }
      });
  if (i < n) out[i] = distance_from(best, kMetric);
}

at::Tensor min_distance_cuda(const at::Tensor& x_in, const at::Tensor& y_in,
                             c10::string_view metric_name) {
  const Metric metric = check_min_distance_args(x_in, y_in, metric_name);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const auto x = x_in.contiguous();
  const auto y = y_in.contiguous();
  const int64_t n = x.size(0), m = y.size(0), d = x.size(1);
  auto out = at::empty({n}, x.options().dtype(accumulation_dtype(x.scalar_type())));
  if (n == 0) return out;
  const auto blocks = static_cast<unsigned int>(cuda::ceil_div(n, kThreads));
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "min_distance_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* yp = y.const_data_ptr<scalar_t>();
    acc_t* op = out.mutable_data_ptr<acc_t>();
    if (metric == Metric::Cosine) {
      min_distance_kernel<scalar_t, Metric::Cosine>
          <<<blocks, kThreads, 0, stream>>>(xp, n, yp, m, d, op);
    } else {
      min_distance_kernel<scalar_t, Metric::Euclidean>
          <<<blocks, kThreads, 0, stream>>>(xp, n, yp, m, d, op);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("min_distance", &min_distance_cuda); }

}  // namespace dacs
