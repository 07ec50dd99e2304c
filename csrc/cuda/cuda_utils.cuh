#pragma once

// Device helpers shared by the CUDA kernels (csrc/cuda/*.cu only).

#include <ATen/OpMathType.h>

#include <algorithm>
#include <cstdint>

namespace dacs::cuda {

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks for a grid-stride loop over `work` >= 1 items: one item per thread up to
// a cap that already fills any GPU, so huge inputs never overflow the grid.
inline unsigned int grid_stride_blocks(int64_t work, int threads) {
  constexpr int64_t kMaxBlocks = 65536;
  return static_cast<unsigned int>(std::min(ceil_div(work, threads), kMaxBlocks));
}

// exp() for the density weights (weighted_similarity's Exp).
struct DeviceExp {
  __host__ __device__ static float of(float x) { return expf(x); }
  __host__ __device__ static double of(double x) { return exp(x); }
};

// 16 bytes of scalar_t, for one wide load from global memory.
template <typename scalar_t>
struct alignas(16) Pack {
  static constexpr int size = 16 / sizeof(scalar_t);
  scalar_t v[size];

  // Whether every row of a [*, d] matrix starting at `data` can be read in Packs.
  static bool fits(const scalar_t* data, int64_t d) {
    return reinterpret_cast<uintptr_t>(data) % 16 == 0 && d % size == 0;
  }
};

// Tiles that sweep_rows stages through shared memory: kTileRows rows of the swept
// matrix by kTileCols feature columns. With kTileCols = 16 the hot case d = 16 is
// one pass with the owned row held in registers for the whole sweep.
constexpr int kTileRows = 32;
constexpr int kTileCols = 16;

enum class PairOp { Dot, SquaredDistance };

// Columns [k0, k0 + kTileCols) of `row` [d] in the accumulation type, zero past d
// (zero columns add exactly 0 to a dot or a squared distance).
template <typename scalar_t, typename acc_t>
__device__ __forceinline__ void load_row_piece(const scalar_t* row, int64_t k0, int64_t d,
                                               acc_t (&piece)[kTileCols]) {
#pragma unroll
  for (int kk = 0; kk < kTileCols; ++kk) {
    piece[kk] = k0 + kk < d ? static_cast<acc_t>(row[k0 + kk]) : acc_t(0);
  }
}

// Each thread of the block owns the row `own` [d] of some matrix; together they
// sweep rows [j_begin, j_end) of `rows` [*, d], and every thread calls
// visit(j, s) for each j in order, with s = own . rows[j] (Dot) or
// |own - rows[j]|^2 (SquaredDistance) accumulated in at::opmath_type<scalar_t>
// over k in increasing order like the CPU kernels. Rows of `rows` go through
// shared memory kTileRows at a time, so nothing larger than a tile is
// materialised. Contains __syncthreads(): every thread of the block must call it
// with the same range (threads without a row of their own pass any valid row and
// ignore what they are shown).
template <PairOp kOp, typename scalar_t, typename Visit>
__device__ void sweep_rows(const scalar_t* __restrict__ own, const scalar_t* __restrict__ rows,
                           int64_t j_begin, int64_t j_end, int64_t d, Visit&& visit) {
  using acc_t = at::opmath_type<scalar_t>;
  __shared__ __align__(16) acc_t tile[kTileRows][kTileCols];
  const bool resident = d <= kTileCols;
  acc_t a[kTileCols];
  if (resident) load_row_piece(own, 0, d, a);

  for (int64_t j0 = j_begin; j0 < j_end; j0 += kTileRows) {
    const int64_t tile_rows = std::min<int64_t>(kTileRows, j_end - j0);
    acc_t s[kTileRows];
#pragma unroll
    for (int jj = 0; jj < kTileRows; ++jj) s[jj] = acc_t(0);

    for (int64_t k0 = 0; k0 < d; k0 += kTileCols) {
      __syncthreads();  // every thread is done with the previous tile
      for (int e = threadIdx.x; e < kTileRows * kTileCols; e += blockDim.x) {
        const int jj = e / kTileCols, kk = e % kTileCols;
        tile[jj][kk] = jj < tile_rows && k0 + kk < d
                           ? static_cast<acc_t>(rows[(j0 + jj) * d + k0 + kk])
                           : acc_t(0);
      }
      if (!resident) load_row_piece(own, k0, d, a);
      __syncthreads();
#pragma unroll
      for (int jj = 0; jj < kTileRows; ++jj) {
#pragma unroll
        for (int kk = 0; kk < kTileCols; ++kk) {
          if constexpr (kOp == PairOp::Dot) {
            s[jj] += a[kk] * tile[jj][kk];
          } else {
            const acc_t e = a[kk] - tile[jj][kk];
            s[jj] += e * e;
          }
        }
      }
    }
    // Unrolled with a guard rather than a runtime bound so s stays in registers.
#pragma unroll
    for (int jj = 0; jj < kTileRows; ++jj) {
      if (jj < tile_rows) visit(j0 + jj, s[jj]);
    }
  }
}

}  // namespace dacs::cuda
