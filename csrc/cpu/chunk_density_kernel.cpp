// CPU kernel of dacs::chunk_density (Eq. 7-8). Parallel over chunks; each task
// keeps its chunk and one neighbour chunk transposed to [d, m] in the
// accumulation type (O(d * N / chunks) memory per thread, never a chunk-by-chunk
// matrix) and sweeps them with blocks of kRowBlock rows, a tile of columns at a
// time. Pairs inside a chunk are evaluated once and credited to both samples.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

using cpu::kRowBlock;
using cpu::kTile;

// Replaces every dot of the tile by its Eq. 8 weight. kInRange: every dot is
// known to lie within kSiluPolyBound, so float tiles take the polynomial branch
// of weighted_similarity for all lanes (the branchy form evaluates both).
template <bool kInRange, typename acc_t>
void to_weights(acc_t (&tile)[kRowBlock][kTile]) {
  for (int64_t r = 0; r < kRowBlock; ++r) {
#pragma omp simd
    for (int64_t t = 0; t < kTile; ++t) {
      if constexpr (kInRange && std::is_same_v<acc_t, float>) {
        tile[r][t] = silu_near_zero(tile[r][t]);
      } else {
        tile[r][t] = weighted_similarity<cpu::VectorExp>(tile[r][t]);
      }
    }
  }
}

// Whether every dot of two rows of z [n, d] is within kSiluPolyBound (true for
// the unit rows the Python layer passes).
template <typename scalar_t>
bool dots_in_poly_range(const scalar_t* z, int64_t n, int64_t d) {
  float largest = 0;
  for (int64_t i = 0; i < n; ++i) {
    float sq = 0;
    for (int64_t k = 0; k < d; ++k) sq += static_cast<float>(z[i * d + k]) * static_cast<float>(z[i * d + k]);
    largest = std::max(largest, sq);
  }
  return dots_within_poly_bound(largest, d);
}

// Adds to row_sum[r] the Eq. 8 weights of the rows of `block` [kRowBlock, d]
// against the columns [j0, end) of cols [d, ld]. Columns past the chunk are zero
// and weigh silu(0) = 0, so tiles need no mask. kOwnChunk: the block is rows
// j0.. of the chunk that cols holds; each pair is then evaluated once and also
// credited to its column in col_sum [ld], and the first tile drops the pairs on
// and below the block's diagonal (a row with itself, or counted already).
template <bool kOwnChunk, bool kInRange, typename acc_t>
void accumulate_block(const acc_t* block, int64_t d, const acc_t* cols, int64_t ld,
                      int64_t j0, int64_t end, acc_t* row_sum, acc_t* col_sum) {
  static_assert(kRowBlock <= kTile, "the diagonal must fit in the first tile");
  acc_t tile[kRowBlock][kTile];
  // Per-lane partial sums, reduced across lanes once at the end of the sweep.
  acc_t lanes[kRowBlock][kTile] = {};
  for (const int64_t first = j0; j0 < end; j0 += kTile) {
    cpu::pair_tile<cpu::Pairing::Dot>(block, d, cols, ld, j0, tile);
    to_weights<kInRange>(tile);
    if (kOwnChunk && j0 == first) {
      for (int64_t r = 0; r < kRowBlock; ++r)
        for (int64_t t = 0; t <= r; ++t) tile[r][t] = acc_t(0);
    }
    for (int64_t r = 0; r < kRowBlock; ++r) {
#pragma omp simd
      for (int64_t t = 0; t < kTile; ++t) lanes[r][t] += tile[r][t];
    }
    if constexpr (kOwnChunk) {
      for (int64_t r = 0; r < kRowBlock; ++r) {
#pragma omp simd
        for (int64_t t = 0; t < kTile; ++t) col_sum[j0 + t] += tile[r][t];
      }
    }
  }
  for (int64_t r = 0; r < kRowBlock; ++r) {
    acc_t sum = 0;
    for (int64_t t = 0; t < kTile; ++t) sum += lanes[r][t];
    row_sum[r] += sum;
  }
}

// accumulate_block for float rows whose dots are all within kSiluPolyBound, with
// the weights applied to the dot products while they are still in registers
// (accumulate_block stores each tile and reads it back for every step). The
// first tile of a block of its own chunk, which holds the diagonal, goes through
// accumulate_block.
template <bool kOwnChunk>
void accumulate_block_in_registers(const float* block, int64_t d, const float* cols, int64_t ld,
                                   int64_t j0, int64_t end, float* row_sum, float* col_sum) {
  using vec = cpu::Vector<float>::type;
  constexpr int64_t kLanes = cpu::Vector<float>::kLanes;
  constexpr int64_t kVecs = cpu::Vector<float>::kPerTile;
  // col_sum starts at any float: loads and stores through memcpy, never an aligned access.
  const auto load = [](const float* p) {
    vec v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
  };
  if (kOwnChunk && j0 < end) {
    const int64_t first_end = std::min(j0 + kTile, end);
    accumulate_block<true, true, float>(block, d, cols, ld, j0, first_end, row_sum, col_sum);
    j0 = first_end;
  }
  vec lanes[kRowBlock] = {};
  for (; j0 < end; j0 += kTile) {
    vec acc[kRowBlock][kVecs];
    cpu::pair_tile_vectors<cpu::Pairing::Dot, kRowBlock, kVecs>(block, d, cols, ld, j0, acc);
    vec column[kVecs] = {};
    for (int64_t r = 0; r < kRowBlock; ++r) {
      for (int64_t v = 0; v < kVecs; ++v) {
        const vec w = cpu::silu_near_zero_vec(acc[r][v]);
        lanes[r] += w;
        if constexpr (kOwnChunk) column[v] += w;
      }
    }
    if constexpr (kOwnChunk) {
      for (int64_t v = 0; v < kVecs; ++v) {
        const vec sum = load(col_sum + j0 + kLanes * v) + column[v];
        __builtin_memcpy(col_sum + j0 + kLanes * v, &sum, sizeof(sum));
      }
    }
  }
  for (int64_t r = 0; r < kRowBlock; ++r) {
    float sum = 0;
    for (int64_t t = 0; t < kLanes; ++t) sum += lanes[r][t];
    row_sum[r] += sum;
  }
}

// The sweep of a block over columns [j0, end): in registers where it can be.
template <bool kOwnChunk, bool kInRange, typename acc_t>
void sweep_block(const acc_t* block, int64_t d, const acc_t* cols, int64_t ld, int64_t j0, int64_t end,
                 acc_t* row_sum, acc_t* col_sum) {
  if constexpr (kInRange && std::is_same_v<acc_t, float>) {
    accumulate_block_in_registers<kOwnChunk>(block, d, cols, ld, j0, end, row_sum, col_sum);
  } else {
    accumulate_block<kOwnChunk, kInRange, acc_t>(block, d, cols, ld, j0, end, row_sum, col_sum);
  }
}

template <bool kInRange, typename scalar_t>
void chunk_density_kernel(const scalar_t* z, int64_t n, int64_t d, int64_t chunks,
                          const int64_t* bounds, int64_t longest, Neighbours mode,
                          at::opmath_type<scalar_t>* out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t ld = cpu::padded_columns(longest);
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    std::vector<acc_t> own, other, density(ld);
    std::vector<acc_t> block(kRowBlock * d);
    acc_t row_sum[kRowBlock];
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t begin = chunk_start(c, n, chunks, bounds), m = chunk_start(c + 1, n, chunks, bounds) - begin;
      const scalar_t* rows = z + begin * d;
      std::fill(density.begin(), density.end(), acc_t(0));
      cpu::to_columns(rows, m, d, ld, own);
      int64_t neighbours[2];
      const int count = neighbour_chunks(c, chunks, mode, neighbours);

      for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
        const int64_t real = cpu::load_row_block(rows, m, d, i0, block.data());
        for (int64_t r = 0; r < kRowBlock; ++r) row_sum[r] = acc_t(0);
        sweep_block<true, kInRange>(block.data(), d, own.data(), ld, i0, m, row_sum, density.data());
        for (int64_t r = 0; r < real; ++r) density[i0 + r] += row_sum[r];
      }

      for (int q = 0; q < count; ++q) {
        const int64_t nb_begin = chunk_start(neighbours[q], n, chunks, bounds);
        const int64_t nb_rows = chunk_start(neighbours[q] + 1, n, chunks, bounds) - nb_begin;
        cpu::to_columns(z + nb_begin * d, nb_rows, d, ld, other);
        for (int64_t i0 = 0; i0 < m; i0 += kRowBlock) {
          const int64_t real = cpu::load_row_block(rows, m, d, i0, block.data());
          for (int64_t r = 0; r < kRowBlock; ++r) row_sum[r] = acc_t(0);
          sweep_block<false, kInRange, acc_t>(block.data(), d, other.data(), ld, 0, nb_rows, row_sum, nullptr);
          for (int64_t r = 0; r < real; ++r) density[i0 + r] += row_sum[r];
        }
      }
      std::copy(density.begin(), density.begin() + m, out + begin);
    }
  });
}

at::Tensor chunk_density_cpu(const at::Tensor& z_in, int64_t chunks,
                             c10::string_view neighbours,
                             const std::optional<at::Tensor>& bounds_in) {
  const Neighbours mode = check_chunk_density_args(z_in, chunks, neighbours, bounds_in);
  const auto z = z_in.contiguous();
  const int64_t n = z.size(0), d = z.size(1);
  const auto bounds = bounds_in.has_value() ? bounds_in->contiguous() : at::Tensor();
  const int64_t* bp = bounds.defined() ? bounds.const_data_ptr<int64_t>() : nullptr;
  const int64_t longest = longest_chunk(n, chunks, bp);
  auto out = at::empty({n}, z.options().dtype(accumulation_dtype(z.scalar_type())));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "chunk_density_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* zp = z.const_data_ptr<scalar_t>();
    acc_t* op = out.data_ptr<acc_t>();
    if (std::is_same_v<acc_t, float> && dots_in_poly_range(zp, n, d)) {
      chunk_density_kernel<true>(zp, n, d, chunks, bp, longest, mode, op);
    } else {
      chunk_density_kernel<false>(zp, n, d, chunks, bp, longest, mode, op);
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("chunk_density", &chunk_density_cpu); }

}  // namespace dacs
