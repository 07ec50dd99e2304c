// CUDA kernel of dacs::chunk_density (Eq. 7-8). Block b covers up to blockDim.x
// consecutive rows of one chunk, one row per thread; the block sweeps its own
// chunk and then each neighbour chunk through shared-memory tiles (sweep_rows),
// so memory stays O(tile) per block and no chunk-by-chunk matrix exists. Unlike
// the CPU kernel, each pair inside a chunk is evaluated by both of its rows, which
// keeps every thread's sum private (no atomics, deterministic results).

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>

#include "../dacs.h"
#include "cuda_utils.cuh"

namespace dacs {
namespace {

constexpr int kMaxThreads = 128;

// z [n, d] sorted by bucket; density [n]. Block b handles rows
// [tile * blockDim.x, (tile + 1) * blockDim.x) of chunk b / tiles_per_chunk, with
// tile = b % tiles_per_chunk.
template <typename scalar_t>
__global__ void __launch_bounds__(kMaxThreads)
    chunk_density_kernel(const scalar_t* __restrict__ z, int64_t n, int64_t d, int64_t chunks,
                         int64_t tiles_per_chunk, Neighbours mode,
                         at::opmath_type<scalar_t>* __restrict__ density) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t c = blockIdx.x / tiles_per_chunk;
  const int64_t begin = chunk_begin(c, n, chunks), end = chunk_begin(c + 1, n, chunks);
  const int64_t first = begin + (blockIdx.x % tiles_per_chunk) * blockDim.x;
  if (first >= end) return;  // the chunk is shorter than the longest one (whole block)
  const int64_t i = first + threadIdx.x;
  const bool owns_row = i < end;
  // Threads past the chunk still load tiles; they sweep with the chunk's first row.
  const scalar_t* own = z + (owns_row ? i : begin) * d;

  acc_t sum = acc_t(0);
  auto add = [&](int64_t j, acc_t s) {
    if (j != i) sum += weighted_similarity<cuda::DeviceExp>(s);
  };
  cuda::sweep_rows<cuda::PairOp::Dot>(own, z, begin, end, d, add);
  int64_t neighbours[2];
  const int count = neighbour_chunks(c, chunks, mode, neighbours);
  for (int q = 0; q < count; ++q) {
    cuda::sweep_rows<cuda::PairOp::Dot>(own, z, chunk_begin(neighbours[q], n, chunks),
                                        chunk_begin(neighbours[q] + 1, n, chunks), d, add);
  }
  if (owns_row) density[i] = sum;
}

at::Tensor chunk_density_cuda(const at::Tensor& z_in, int64_t chunks,
                              c10::string_view neighbours) {
  const Neighbours mode = check_chunk_density_args(z_in, chunks, neighbours);
  const c10::cuda::CUDAGuard guard(z_in.device());
  const auto z = z_in.contiguous();
  const int64_t n = z.size(0), d = z.size(1);
  auto density = at::empty({n}, z.options().dtype(accumulation_dtype(z.scalar_type())));

  // Small chunks get small blocks (whole warps) so few threads idle.
  const int64_t max_rows = cuda::ceil_div(n, chunks);
  const int threads =
      static_cast<int>(std::min<int64_t>(kMaxThreads, cuda::ceil_div(max_rows, 32) * 32));
  const int64_t tiles_per_chunk = cuda::ceil_div(max_rows, threads);
  const int64_t blocks = chunks * tiles_per_chunk;
  TORCH_CHECK(blocks <= std::numeric_limits<int32_t>::max(), "chunk_density: z_sorted with N = ",
              n, " rows in ", chunks, " chunks needs more thread blocks than a CUDA grid holds");
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "chunk_density_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    chunk_density_kernel<scalar_t><<<static_cast<unsigned int>(blocks), threads, 0, stream>>>(
        z.const_data_ptr<scalar_t>(), n, d, chunks, tiles_per_chunk, mode,
        density.mutable_data_ptr<acc_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return density;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("chunk_density", &chunk_density_cuda); }

}  // namespace dacs
