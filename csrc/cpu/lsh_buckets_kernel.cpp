// CPU kernel of dacs::lsh_buckets (Eq. 6), fused: a tile of kTile rows,
// transposed so that each vector lane is one row, sweeps the rotation
// kHashColumns columns at a time; every lane keeps its row's first maximum and
// first minimum projection and their columns in registers, so neither a
// [rows, k/2] projection matrix nor any per-column state ever goes through
// memory. The argmax over [zR ; -zR] is the maximum of zR or the minimum of zR,
// first index on ties, as the shared LshArgmax defines it. Through a BLAS
// product and that intermediate, 4M rows x 2,222 buckets ran at 15 GFLOP/s on
// 2 cores.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

using cpu::kTile;

// Rotation columns per register tile: with kTile rows that is kHashColumns *
// kTile / lanes accumulators, beside the four vectors of extremes per kTile / lanes
// rows, within the register file (32 zmm with AVX-512, 16 ymm with AVX2).
constexpr int64_t kHashColumns = cpu::kVectorBytes == 64 ? 8 : 2;

// Buckets of the `count` rows of rows_t [d, kTile] (row t in column t) under one
// round's rotation, as columns [padded, d] whose rows past `half` repeat column
// 0: a repeat never beats column 0 under the strict comparisons, so it needs no
// mask.
template <typename acc_t>
void hash_tile(const acc_t* rows_t, const acc_t* columns, int64_t padded, int64_t d, int64_t half,
               int64_t count, int64_t* out) {
  using V = cpu::Vector<acc_t>;
  using vec = typename V::type;
  using index_t = typename V::index_t;
  using index_vec = typename V::index_type;
  constexpr acc_t kInf = std::numeric_limits<acc_t>::infinity();
  vec hi[V::kPerTile], lo[V::kPerTile];
  index_vec hi_at[V::kPerTile], lo_at[V::kPerTile];
  for (int64_t v = 0; v < V::kPerTile; ++v) {
    hi[v] = vec{} - kInf;
    lo[v] = vec{} + kInf;
    hi_at[v] = lo_at[v] = index_vec{};
  }
  for (int64_t j0 = 0; j0 < padded; j0 += kHashColumns) {
    vec acc[kHashColumns][V::kPerTile];
    cpu::pair_tile_vectors<cpu::Pairing::Dot, kHashColumns, V::kPerTile>(columns + j0 * d, d, rows_t, kTile, 0, acc);
    // Columns in increasing order and strict comparisons: each lane keeps the first extreme.
    for (int64_t c = 0; c < kHashColumns; ++c) {
      const index_vec at = index_vec{} + static_cast<index_t>(j0 + c < half ? j0 + c : 0);
      for (int64_t v = 0; v < V::kPerTile; ++v) {
        const vec p = acc[c][v];
        const auto up = p > hi[v], down = p < lo[v];
        hi[v] = up ? p : hi[v];
        hi_at[v] = up ? at : hi_at[v];
        lo[v] = down ? p : lo[v];
        lo_at[v] = down ? at : lo_at[v];
      }
    }
  }
  // The larger magnitude wins, the maximum on a tie.
  for (int64_t i = 0; i < count; ++i) {
    const int64_t v = i / V::kLanes, t = i % V::kLanes;
    out[i] = hi[v][t] >= -lo[v][t] ? int64_t(hi_at[v][t]) : half + int64_t(lo_at[v][t]);
  }
}

template <typename scalar_t>
void lsh_buckets_kernel(const scalar_t* z, int64_t n, int64_t d, const at::Tensor& rotation,
                        int64_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t rounds = rotation.size(0), half = rotation.size(2);
  TORCH_CHECK(half <= std::numeric_limits<typename cpu::Vector<acc_t>::index_t>::max(),
              "lsh_buckets: rotation has ", half, " columns, more than this kernel indexes");
  const int64_t padded = (half + kHashColumns - 1) / kHashColumns * kHashColumns;
  const int64_t tiles = (n + kTile - 1) / kTile;
  for (int64_t r = 0; r < rounds; ++r) {
    const acc_t* rot = rotation[r].const_data_ptr<acc_t>();  // [d, half], contiguous
    std::vector<acc_t> columns(padded * d);
    for (int64_t j = 0; j < padded; ++j)
      for (int64_t k = 0; k < d; ++k) columns[j * d + k] = rot[k * half + (j < half ? j : 0)];
    int64_t* o = out + r * n;
    at::parallel_for(0, tiles, 64, [&](int64_t t0, int64_t t1) {
      std::vector<acc_t> rows_t;
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t first = t * kTile, count = std::min(kTile, n - first);
        cpu::to_tiled_columns(z + first * d, count, d, kTile, rows_t);  // one tile: [d, kTile]
        hash_tile(rows_t.data(), columns.data(), padded, d, half, count, o + first);
      }
    });
  }
}

at::Tensor lsh_buckets_cpu(const at::Tensor& z_in, const at::Tensor& rotation_in) {
  check_lsh_buckets_args(z_in, rotation_in);
  const auto z = z_in.contiguous();
  const auto rotation = rotation_in.to(accumulation_dtype(z_in.scalar_type())).contiguous();
  const int64_t n = z.size(0), d = z.size(1);
  auto out = at::empty({rotation.size(0), n}, z.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "lsh_buckets_cpu", [&] {
    lsh_buckets_kernel<scalar_t>(z.const_data_ptr<scalar_t>(), n, d, rotation, out.data_ptr<int64_t>());
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("lsh_buckets", &lsh_buckets_cpu); }

}  // namespace dacs
