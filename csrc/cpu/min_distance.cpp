// CPU kernel of dacs::min_distance. y is transposed once to [d, M]; blocks of
// kRowBlock rows of x sweep it keeping only a running best per row, so memory
// stays O((N + M) * d) whatever N * M is. The cosine metric tracks the largest
// dot and the Euclidean metric the smallest squared distance; both map to the
// distance monotonically, so the minimum is exact.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <limits>
#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

template <typename acc_t, Metric kMetric>
void nearest_for_block(const acc_t* block, int64_t d, const acc_t* cols, int64_t m,
                       acc_t best[cpu::kRowBlock]) {
  constexpr bool kCosine = kMetric == Metric::Cosine;
  const acc_t start = kCosine ? -std::numeric_limits<acc_t>::infinity()
                              : std::numeric_limits<acc_t>::infinity();
  acc_t b0 = start, b1 = start, b2 = start, b3 = start;
  if constexpr (kCosine) {
#pragma omp simd reduction(max : b0, b1, b2, b3)
    for (int64_t j = 0; j < m; ++j) {
      acc_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (int64_t k = 0; k < d; ++k) {
        const acc_t y = cols[k * m + j];
        a0 += block[k] * y;
        a1 += block[d + k] * y;
        a2 += block[2 * d + k] * y;
        a3 += block[3 * d + k] * y;
      }
      b0 = a0 > b0 ? a0 : b0;
      b1 = a1 > b1 ? a1 : b1;
      b2 = a2 > b2 ? a2 : b2;
      b3 = a3 > b3 ? a3 : b3;
    }
  } else {
#pragma omp simd reduction(min : b0, b1, b2, b3)
    for (int64_t j = 0; j < m; ++j) {
      acc_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (int64_t k = 0; k < d; ++k) {
        const acc_t y = cols[k * m + j];
        const acc_t e0 = block[k] - y, e1 = block[d + k] - y, e2 = block[2 * d + k] - y,
                    e3 = block[3 * d + k] - y;
        a0 += e0 * e0;
        a1 += e1 * e1;
        a2 += e2 * e2;
        a3 += e3 * e3;
      }
      b0 = a0 < b0 ? a0 : b0;
      b1 = a1 < b1 ? a1 : b1;
      b2 = a2 < b2 ? a2 : b2;
      b3 = a3 < b3 ? a3 : b3;
    }
  }
  best[0] = b0;
  best[1] = b1;
  best[2] = b2;
  best[3] = b3;
}

template <typename scalar_t, Metric kMetric>
void min_distance_kernel(const scalar_t* x, int64_t n, const scalar_t* y, int64_t m,
                         int64_t d, at::opmath_type<scalar_t>* out) {
  using acc_t = at::opmath_type<scalar_t>;
  std::vector<acc_t> cols(d * m);
  cpu::transpose_rows(y, m, d, cols.data(), m);
  const int64_t blocks = (n + cpu::kRowBlock - 1) / cpu::kRowBlock;
  at::parallel_for(0, blocks, 16, [&](int64_t b0, int64_t b1) {
    std::vector<acc_t> block(cpu::kRowBlock * d);
    acc_t best[cpu::kRowBlock];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t first = b * cpu::kRowBlock;
      const int64_t rows = cpu::load_row_block(x, n, d, first, block.data());
      nearest_for_block<acc_t, kMetric>(block.data(), d, cols.data(), m, best);
      for (int64_t r = 0; r < rows; ++r) out[first + r] = distance_from(best[r], kMetric);
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
