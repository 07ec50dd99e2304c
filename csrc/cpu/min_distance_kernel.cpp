// CPU kernel of dacs::min_distance. y is copied once to columns [d, M]; blocks of
// kRowBlock rows of x sweep it a tile at a time keeping only a running best per
// row and lane, in registers (cpu::NearestTerm), so memory stays O((N + M) * d)
// whatever N * M is.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

using cpu::kRowBlock;
using cpu::kTile;

template <typename scalar_t, Metric kMetric>
void min_distance_kernel(const scalar_t* x, int64_t n, const scalar_t* y, int64_t m,
                         int64_t d, at::opmath_type<scalar_t>* out) {
  using acc_t = at::opmath_type<scalar_t>;
  using Term = cpu::NearestTerm<kMetric, acc_t>;
  using V = cpu::Vector<acc_t>;
  using vec = typename V::type;
  std::vector<acc_t> tiles;
  cpu::to_tiled_columns(y, m, d, (m + kTile - 1) / kTile * kTile, tiles, Term::kPadding);
  const int64_t blocks = (n + kRowBlock - 1) / kRowBlock;
  at::parallel_for(0, blocks, 16, [&](int64_t b0, int64_t b1) {
    std::vector<acc_t> block(kRowBlock * d);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t first = b * kRowBlock;
      const int64_t rows = cpu::load_row_block(x, n, d, first, block.data());
      // Per-lane running bests, kept in registers.
      vec lanes[kRowBlock];
      for (int64_t r = 0; r < kRowBlock; ++r) lanes[r] = vec{} + Term::kNone;
      for (int64_t j0 = 0; j0 < m; j0 += kTile) {
        vec acc[kRowBlock][V::kPerTile];
        cpu::pair_tile_vectors<Term::kPairing, kRowBlock, V::kPerTile>(block.data(), d, tiles.data() + j0 * d,
                                                                        kTile, 0, acc);
        for (int64_t r = 0; r < kRowBlock; ++r)
          for (int64_t v = 0; v < V::kPerTile; ++v) lanes[r] = Term::nearer(lanes[r], acc[r][v]);
      }
      for (int64_t r = 0; r < rows; ++r) out[first + r] = distance_from(Term::of_lanes(lanes[r]), kMetric);
    }
  });
}

at::Tensor min_distance_cpu(const at::Tensor& x_in, const at::Tensor& y_in,
                            c10::string_view metric_name) {
  const Metric metric = check_min_distance_args(x_in, y_in, metric_name);
  const auto x = x_in.contiguous();
  const auto y = y_in.contiguous();
  const int64_t n = x.size(0), m = y.size(0), d = x.size(1);
  auto out = at::empty({n}, x.options().dtype(accumulation_dtype(x.scalar_type())));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "min_distance_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* yp = y.const_data_ptr<scalar_t>();
    acc_t* op = out.data_ptr<acc_t>();
    if (metric == Metric::Cosine) {
      min_distance_kernel<scalar_t, Metric::Cosine>(xp, n, yp, m, d, op);
    } else {
      min_distance_kernel<scalar_t, Metric::Euclidean>(xp, n, yp, m, d, op);
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("min_distance", &min_distance_cpu); }

}  // namespace dacs
