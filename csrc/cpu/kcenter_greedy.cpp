// CPU kernel of dacs::kcenter_greedy (Algorithm 1, lines 7-10). x is transposed
// once to [d, N] so each step's distance update vectorises over samples; the
// update and the per-block maximum are fused into one parallel pass, and the
// winner (first maximum) is found from the block maxima without a second sweep.

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

constexpr int64_t kBlockRows = 2048;

// Lowers dist[i0, i1) by the distance to `center` [d] and returns the new maximum.
template <typename acc_t, Metric kMetric>
acc_t lower_and_max(const acc_t* cols, int64_t n, int64_t d, const acc_t* center,
                    acc_t* dist, int64_t i0, int64_t i1) {
  acc_t best = -std::numeric_limits<acc_t>::infinity();
#pragma omp simd reduction(max : best)
  for (int64_t i = i0; i < i1; ++i) {
    acc_t a = 0;
    for (int64_t k = 0; k < d; ++k) {
      if constexpr (kMetric == Metric::Cosine) {
        a += center[k] * cols[k * n + i];
      } else {
        const acc_t e = center[k] - cols[k * n + i];
        a += e * e;
      }
    }
    const acc_t candidate = distance_from(a, kMetric);
    const acc_t v = candidate < dist[i] ? candidate : dist[i];
    dist[i] = v;
    best = v > best ? v : best;
  }
  return best;
}

template <typename acc_t>
acc_t block_max(const acc_t* dist, int64_t i0, int64_t i1) {
  acc_t best = -std::numeric_limits<acc_t>::infinity();
#pragma omp simd reduction(max : best)
  for (int64_t i = i0; i < i1; ++i) best = dist[i] > best ? dist[i] : best;
  return best;
}

template <typename scalar_t, Metric kMetric>
void kcenter_greedy_kernel(const scalar_t* x, int64_t n, int64_t d,
                           at::opmath_type<scalar_t>* dist, int64_t budget, int64_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  std::vector<acc_t> cols(d * n);
  cpu::transpose_rows(x, n, d, cols.data(), n);
  const int64_t blocks = (n + kBlockRows - 1) / kBlockRows;
  std::vector<acc_t> maxima(blocks);
  std::vector<acc_t> center(d);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      maxima[b] = block_max(dist, b * kBlockRows, std::min(n, (b + 1) * kBlockRows));
  });

  for (int64_t step = 0; step < budget; ++step) {
    int64_t best_block = 0;
    for (int64_t b = 1; b < blocks; ++b)
      if (maxima[b] > maxima[best_block]) best_block = b;
    const acc_t best = maxima[best_block];
    TORCH_CHECK(best > -std::numeric_limits<acc_t>::infinity(),
                "kcenter_greedy: budget ", budget, " exceeds the ", step,
                " rows whose min_dist is not -inf");
    int64_t pick = best_block * kBlockRows;
    const int64_t block_end = std::min(n, pick + kBlockRows);
    while (pick < block_end && !(dist[pick] == best)) ++pick;
    TORCH_CHECK(pick < block_end, "kcenter_greedy: min_dist must not contain NaN");
    out[step] = pick;
    dist[pick] = -std::numeric_limits<acc_t>::infinity();
    if (step + 1 == budget) break;
    for (int64_t k = 0; k < d; ++k) center[k] = cols[k * n + pick];
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        maxima[b] = lower_and_max<acc_t, kMetric>(cols.data(), n, d, center.data(), dist,
                                                  b * kBlockRows,
                                                  std::min(n, (b + 1) * kBlockRows));
    });
  }
}

at::Tensor kcenter_greedy_cpu(const at::Tensor& x_in, const at::Tensor& min_dist,
                              int64_t budget, c10::string_view metric_name) {
  const Metric metric = check_kcenter_greedy_args(x_in, min_dist, budget, metric_name);
  const auto x = x_in.contiguous();
  auto dist = min_dist.clone(at::MemoryFormat::Contiguous);
  const int64_t n = x.size(0), d = x.size(1);
  auto out = at::empty({budget}, x.options().dtype(at::kLong));
  if (budget == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "kcenter_greedy_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    acc_t* dp = dist.data_ptr<acc_t>();
    int64_t* op = out.data_ptr<int64_t>();
    if (metric == Metric::Cosine) {
      kcenter_greedy_kernel<scalar_t, Metric::Cosine>(xp, n, d, dp, budget, op);
    } else {
      kcenter_greedy_kernel<scalar_t, Metric::Euclidean>(xp, n, d, dp, budget, op);
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("kcenter_greedy", &kcenter_greedy_cpu); }

}  // namespace dacs
