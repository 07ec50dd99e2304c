// CUDA kernel of dacs::chunk_density (Eq. 7-8). Block b covers up to blockDim.x
// consecutive rows of one chunk, one row per thread; the block sweeps its own
// chunk and then each neighbour chunk through shared-memory tiles (sweep_rows),
// so memory stays O(tile) per block and no chunk-by-chunk matrix exists. Unlike
// the CPU kernel, each pair inside a chunk is evaluated by both of its rows, which
// keeps every thread's sum private (no atomics, deterministic results). When a
// first pass finds every row's squared norm small enough (unit rows), the weights
// take the polynomial branch for every pair with no exp and no branch; evaluating
// both branches' guards per pair cost about a third of the kernel's time.

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <ATen/ops/zeros.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "../dacs.h"
#include "cuda_utils.cuh"

namespace dacs {
namespace {

constexpr int kMaxThreads = 128;

// largest [1] holds the bits of a float, initially 0; it becomes the largest
// squared norm of a row of z [n, d] (non-negative floats order as their bits do).
template <typename scalar_t>
__global__ void __launch_bounds__(kMaxThreads)
    largest_square_norm_kernel(const scalar_t* __restrict__ z, int64_t n, int64_t d,
                               int* __restrict__ largest) {
  float mine = 0.0f;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    float square = 0.0f;
    for (int64_t k = 0; k < d; ++k) {
      const float v = static_cast<float>(z[i * d + k]);
      square += v * v;
    }
    mine = square > mine || square != square ? square : mine;  // NaN wins: no shortcut
  }
  const int warp_largest = __reduce_max_sync(0xffffffffu, __float_as_int(mine));
  if (threadIdx.x % 32 == 0) atomicMax(largest, warp_largest);
}

// z [n, d] sorted by bucket; bounds [chunks + 1] the chunks' first rows, or null
// for the equal split; density [n]; largest_square_norm [1] the bits written by
// largest_square_norm_kernel (unused for float64). Block b handles rows
// [tile * blockDim.x, (tile + 1) * blockDim.x) of chunk b / tiles_per_chunk, with
// tile = b % tiles_per_chunk.
template <typename scalar_t>
__global__ void __launch_bounds__(kMaxThreads)
    chunk_density_kernel(const scalar_t* __restrict__ z, int64_t n, int64_t d, int64_t chunks,
                         const int64_t* __restrict__ bounds, int64_t tiles_per_chunk,
                         Neighbours mode, const int* __restrict__ largest_square_norm,
                         at::opmath_type<scalar_t>* __restrict__ density) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t c = blockIdx.x / tiles_per_chunk;
  const int64_t begin = chunk_start(c, n, chunks, bounds), end = chunk_start(c + 1, n, chunks, bounds);
  const int64_t first = begin + (blockIdx.x % tiles_per_chunk) * blockDim.x;
  if (first >= end) return;  // the chunk is shorter than the longest one (whole block)
  const int64_t i = first + threadIdx.x;
  const bool owns_row = i < end;
  // Threads past the chunk still load tiles; they sweep with the chunk's first row.
  const scalar_t* own = z + (owns_row ? i : begin) * d;
  int64_t neighbours[2];
  const int count = neighbour_chunks(c, chunks, mode, neighbours);

  acc_t sum = acc_t(0);
  auto sweep = [&](auto&& add) {
    cuda::sweep_rows<cuda::PairOp::Dot>(own, z, begin, end, d, add);
    for (int q = 0; q < count; ++q) {
      cuda::sweep_rows<cuda::PairOp::Dot>(own, z, chunk_start(neighbours[q], n, chunks, bounds),
                                          chunk_start(neighbours[q] + 1, n, chunks, bounds), d, add);
    }
  };
  bool polynomial = false;
  if constexpr (std::is_same_v<acc_t, float>) {
    polynomial = dots_within_poly_bound(__int_as_float(*largest_square_norm), d);
  }
  if (polynomial) {
    sweep([&](int64_t j, acc_t s) {
      const acc_t w = silu_near_zero(s);
      sum += j != i ? w : acc_t(0);
    });
  } else {
    sweep([&](int64_t j, acc_t s) {
      if (j != i) sum += weighted_similarity<cuda::DeviceExp>(s);
    });
  }
  if (owns_row) density[i] = sum;
}

at::Tensor chunk_density_cuda(const at::Tensor& z_in, int64_t chunks,
                              c10::string_view neighbours,
                              const std::optional<at::Tensor>& bounds_in) {
  const Neighbours mode = check_chunk_density_args(z_in, chunks, neighbours, bounds_in);
  const c10::cuda::CUDAGuard guard(z_in.device());
  const auto z = z_in.contiguous();
  const int64_t n = z.size(0), d = z.size(1);
  // The longest chunk from the host's copy of the bounds; the kernel reads a device copy.
  const auto host_bounds = bounds_in.has_value() ? bounds_in->contiguous() : at::Tensor();
  const int64_t max_rows = longest_chunk(
      n, chunks, host_bounds.defined() ? host_bounds.const_data_ptr<int64_t>() : nullptr);
  const auto bounds = host_bounds.defined() ? host_bounds.to(z.device(), /*non_blocking=*/false)
                                            : at::Tensor();
  auto density = at::empty({n}, z.options().dtype(accumulation_dtype(z.scalar_type())));

  // Small chunks get small blocks (whole warps) so few threads idle.
  const int threads =
      static_cast<int>(std::min<int64_t>(kMaxThreads, cuda::ceil_div(max_rows, 32) * 32));
  const int64_t tiles_per_chunk = cuda::ceil_div(max_rows, threads);
  const int64_t blocks = chunks * tiles_per_chunk;
  TORCH_CHECK(blocks <= std::numeric_limits<int32_t>::max(), "chunk_density: z_sorted with N = ",
              n, " rows in ", chunks, " chunks needs more thread blocks than a CUDA grid holds");
  const auto stream = c10::cuda::getCurrentCUDAStream();
  auto largest_square_norm = at::zeros({1}, z.options().dtype(at::kInt));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "chunk_density_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    if constexpr (std::is_same_v<acc_t, float>) {
      largest_square_norm_kernel<scalar_t>
          <<<cuda::grid_stride_blocks(n, kMaxThreads), kMaxThreads, 0, stream>>>(
              z.const_data_ptr<scalar_t>(), n, d, largest_square_norm.mutable_data_ptr<int>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
    chunk_density_kernel<scalar_t><<<static_cast<unsigned int>(blocks), threads, 0, stream>>>(
        z.const_data_ptr<scalar_t>(), n, d, chunks,
        bounds.defined() ? bounds.const_data_ptr<int64_t>() : nullptr, tiles_per_chunk, mode,
        largest_square_norm.const_data_ptr<int>(), density.mutable_data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return density;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("chunk_density", &chunk_density_cuda); }

}  // namespace dacs
