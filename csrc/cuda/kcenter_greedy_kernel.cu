// CUDA kernel of dacs::kcenter_greedy (Algorithm 1, lines 7-10). All budget steps
// run on the device with no host synchronisation in between: launch s (s = 0 ..
// budget) first resolves pick s - 1 by reducing the (value, index) candidates that
// every block of launch s - 1 published (each block redundantly, so no grid-wide
// barrier is needed), then lowers its grid-stride slice of dist by that pick and
// publishes its own candidate for pick s. Candidates alternate between two
// buffers, so a launch never overwrites what it reads. The last launch only
// resolves the final pick. The grid is as large as the GPU holds at once (by
// occupancy), the new center is staged in shared memory, and rows are read 16
// bytes at a time when their layout allows. The one host sync is the failure
// check at the end (the op is tagged cudagraph_unsafe for it).

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>
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

constexpr int kThreads = 256;
static_assert(kThreads % 32 == 0, "block_argmax reduces whole warps");
// Few enough blocks that every block can reduce all their candidates each step;
// the occupancy of today's largest GPUs is below it.
constexpr int kMaxBlocks = 4096;
// Centers of up to this many bytes are staged in shared memory (the default limit
// of dynamic shared memory); wider ones are read from global memory.
constexpr int64_t kMaxSharedCenterBytes = 48 * 1024;

template <typename acc_t>
struct Candidate {
  acc_t value;
  int64_t index;
};

// The empty candidate: any row, even one at -inf, beats it; NaN never does.
template <typename acc_t>
__device__ __forceinline__ Candidate<acc_t> no_candidate() {
  return {-std::numeric_limits<acc_t>::infinity(), std::numeric_limits<int64_t>::max()};
}

template <typename acc_t>
__device__ __forceinline__ void keep_better(Candidate<acc_t>& best, acc_t value, int64_t index) {
  if (better_candidate(value, index, best.value, best.index)) best = {value, index};
}

// The best of the block's candidates (better_candidate order), returned to every
// thread. better_candidate is a total order on non-NaN candidates, so the result
// does not depend on the reduction order.
template <typename acc_t>
__device__ Candidate<acc_t> block_argmax(Candidate<acc_t> c) {
  __shared__ Candidate<acc_t> warp_best[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) {
    const acc_t value = __shfl_down_sync(0xffffffffu, c.value, offset);
    const auto index = __shfl_down_sync(0xffffffffu, static_cast<long long>(c.index), offset);
    keep_better(c, value, static_cast<int64_t>(index));
  }
  if (threadIdx.x % 32 == 0) warp_best[threadIdx.x / 32] = c;
  __syncthreads();
  c = warp_best[0];
  for (int w = 1; w < kThreads / 32; ++w) keep_better(c, warp_best[w].value, warp_best[w].index);
  __syncthreads();  // warp_best is free for the next call
  return c;
}

// The distance from `row` [d] to `center` [d], k ascending as in the CPU kernel.
// With `packed`, row and d allow 16-byte loads (same order, same result).
template <Metric kMetric, typename scalar_t>
__device__ __forceinline__ at::opmath_type<scalar_t> row_distance(const scalar_t* __restrict__ row,
                                                                  const scalar_t* center,
                                                                  int64_t d, bool packed) {
  using acc_t = at::opmath_type<scalar_t>;
  acc_t a = acc_t(0);
  auto add = [&](scalar_t center_k, scalar_t row_k) {
    const acc_t ck = static_cast<acc_t>(center_k), xk = static_cast<acc_t>(row_k);
    if constexpr (kMetric == Metric::Cosine) {
      a += ck * xk;
    } else {
      const acc_t e = ck - xk;
      a += e * e;
    }
  };
  if (packed) {
    using pack_t = cuda::Pack<scalar_t>;
    for (int64_t k0 = 0; k0 < d; k0 += pack_t::size) {
      const pack_t piece = *reinterpret_cast<const pack_t*>(row + k0);
#pragma unroll
      for (int kk = 0; kk < pack_t::size; ++kk) add(center[k0 + kk], piece.v[kk]);
    }
  } else {
    for (int64_t k = 0; k < d; ++k) add(center[k], row[k]);
  }
  return distance_from(a, kMetric);
}

// Launch `step` of budget + 1. x [n, d]; c [n, d] each row as a center (x itself
// unless center_side was given); dist [n] each row's distance to the
// current centers; prev_* [prev_count] the candidates of launch step - 1 (unused
// when step == 0); next_* [gridDim.x] this launch's candidates (unused when
// step == budget); out [budget] the picks; failed_step [1] starts at -1 and
// becomes the number of picks made when no pickable row is left. Dynamic shared
// memory holds the center when the launch provides d * sizeof(scalar_t) bytes.
template <typename scalar_t, Metric kMetric>
__global__ void __launch_bounds__(kThreads) kcenter_step_kernel(
    const scalar_t* __restrict__ x, const scalar_t* __restrict__ c, int64_t n, int64_t d,
    bool packed, bool shared_center, at::opmath_type<scalar_t>* dist,
    const at::opmath_type<scalar_t>* prev_value, const int64_t* prev_index, int prev_count,
    at::opmath_type<scalar_t>* next_value, int64_t* next_index, int64_t step, int64_t budget,
    int64_t* __restrict__ out, int64_t* __restrict__ failed_step) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr acc_t kNegInf = -std::numeric_limits<acc_t>::infinity();
  extern __shared__ __align__(16) unsigned char center_bytes[];
  const bool leader = blockIdx.x == 0 && threadIdx.x == 0;

  int64_t pick = -1;
  if (step > 0) {
    Candidate<acc_t> best = no_candidate<acc_t>();
    for (int b = threadIdx.x; b < prev_count; b += kThreads) {
      keep_better(best, prev_value[b], prev_index[b]);
    }
    best = block_argmax(best);
    if (!(best.value > kNegInf)) {
      // Every row left is excluded (or NaN). Only launch step - 1 published
      // candidates for this launch, so later launches fail too: record the first
      // failure and hand on empty candidates. best.index is never dereferenced.
      if (leader && *failed_step < 0) *failed_step = step - 1;
      if (step < budget && threadIdx.x == 0) {
        next_value[blockIdx.x] = kNegInf;
        next_index[blockIdx.x] = std::numeric_limits<int64_t>::max();
      }
      return;
    }
    pick = best.index;  // a real row: only rows' candidates can beat -inf
    if (leader) out[step - 1] = pick;
    if (step == budget) return;
  }

  const scalar_t* center = c + (pick >= 0 ? pick : 0) * d;
  if (pick >= 0 && shared_center) {
    auto* staged = reinterpret_cast<scalar_t*>(center_bytes);
    for (int64_t k = threadIdx.x; k < d; k += kThreads) staged[k] = center[k];
    __syncthreads();
    center = staged;
  }
  Candidate<acc_t> best = no_candidate<acc_t>();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < n;
       i += stride) {
    acc_t v = dist[i];
    if (pick >= 0) {
      if (i == pick) {
        v = kNegInf;
      } else {
        // Same expressions as the CPU kernel, so a NaN row distance leaves dist as is.
        const acc_t candidate = row_distance<kMetric>(x + i * d, center, d, packed);
        v = candidate < v ? candidate : v;
      }
      dist[i] = v;
    }
    keep_better(best, v, i);
  }
  best = block_argmax(best);
  if (threadIdx.x == 0) {
    next_value[blockIdx.x] = best.value;
    next_index[blockIdx.x] = best.index;
  }
}

at::Tensor kcenter_greedy_cuda(const at::Tensor& x_in, const at::Tensor& min_dist,
                               int64_t budget, c10::string_view metric_name,
                               const std::optional<at::Tensor>& center_side) {
  const Metric metric = check_kcenter_greedy_args(x_in, min_dist, budget, metric_name, center_side);
  const c10::cuda::CUDAGuard guard(x_in.device());
  const auto x = x_in.contiguous();
  const auto c = center_side.has_value() ? center_side->contiguous() : x;
  const int64_t n = x.size(0), d = x.size(1);
  auto out = at::empty({budget}, x.options().dtype(at::kLong));
  if (budget == 0) return out;  // also covers n == 0, since budget <= n
  auto dist = min_dist.clone(at::MemoryFormat::Contiguous);

  auto failed_step = at::full({1}, -1, x.options().dtype(at::kLong));
  const auto stream = c10::cuda::getCurrentCUDAStream();

  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "kcenter_greedy_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    auto kernel = metric == Metric::Cosine ? kcenter_step_kernel<scalar_t, Metric::Cosine>
                                           : kcenter_step_kernel<scalar_t, Metric::Euclidean>;
    const bool packed = cuda::Pack<scalar_t>::fits(x.const_data_ptr<scalar_t>(), d);
    const int64_t center_bytes = d * static_cast<int64_t>(sizeof(scalar_t));
    const bool shared_center = center_bytes <= kMaxSharedCenterBytes;
    const size_t shared_bytes = shared_center ? static_cast<size_t>(center_bytes) : 0;
    int resident_blocks = 0;
    C10_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident_blocks, kernel,
                                                                 kThreads, shared_bytes));
    int multiprocessors = 0;
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount,
                                          x.device().index()));
    const int64_t full_gpu = static_cast<int64_t>(std::max(resident_blocks, 1)) * multiprocessors;
    const int blocks = static_cast<int>(
        std::min({cuda::ceil_div(n, kThreads), full_gpu, static_cast<int64_t>(kMaxBlocks)}));
    // Row 0: candidates written by even launches; row 1: by odd launches.
    auto cand_value = at::empty({2, blocks}, dist.options());
    auto cand_index = at::empty({2, blocks}, dist.options().dtype(at::kLong));
    acc_t* values = cand_value.mutable_data_ptr<acc_t>();
    int64_t* indices = cand_index.mutable_data_ptr<int64_t>();
    for (int64_t step = 0; step <= budget; ++step) {
      const int64_t next = (step % 2) * blocks, prev = blocks - next;
      kernel<<<step == budget ? 1 : blocks, kThreads, shared_bytes, stream>>>(
          x.const_data_ptr<scalar_t>(), c.const_data_ptr<scalar_t>(), n, d, packed,
          shared_center, dist.mutable_data_ptr<acc_t>(), values + prev, indices + prev, blocks,
          values + next, indices + next, step, budget, out.mutable_data_ptr<int64_t>(),
          failed_step.mutable_data_ptr<int64_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
  const int64_t picked = failed_step.item<int64_t>();
  TORCH_CHECK(picked < 0, "kcenter_greedy: budget ", budget, " exceeds the ", picked,
              " rows whose min_dist is not -inf");
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("kcenter_greedy", &kcenter_greedy_cuda); }

}  // namespace dacs
