// CPU kernel of dacs::kcenter_greedy (Algorithm 1, lines 7-10): a lazy greedy
// (lazy_steps) that touches only the rows that can be the next pick, falling
// back to an eager sweep of all rows per step (eager_steps) on data where that
// would not save work. In the eager sweep x is copied once into contiguous
// column tiles so each step's distance update vectorises over samples and
// streams one run of memory; the update and the per-block maximum are fused
// into one parallel pass, and the winner (first maximum) is found from the block
// maxima without a second sweep. A picked row j enters as the center c[j]: the
// row of center_side, or of x when none is given.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

using cpu::kTile;

// Rows per parallel task; a multiple of kTile.
constexpr int64_t kBlockRows = 64 * kTile;

// Lowers dist[i0, i1) by the distance to `center` [d] and returns the new
// maximum. tiles holds x as cpu::to_tiled_columns lays it out; dist is padded
// to whole tiles with -inf, which stays -inf.
template <typename acc_t, Metric kMetric>
acc_t lower_and_max(const acc_t* tiles, int64_t d, const acc_t* center, acc_t* dist,
                    int64_t i0, int64_t i1) {
  constexpr auto kPairing = cpu::NearestTerm<kMetric, acc_t>::kPairing;
  acc_t lanes[kTile];
  for (int64_t t = 0; t < kTile; ++t) lanes[t] = -std::numeric_limits<acc_t>::infinity();
  acc_t tile[1][kTile];
  for (int64_t j0 = i0; j0 < i1; j0 += kTile) {
    cpu::pair_tile<kPairing>(center, d, tiles + j0 * d, kTile, 0, tile);
    acc_t* slice = dist + j0;
#pragma omp simd
    for (int64_t t = 0; t < kTile; ++t) {
      const acc_t candidate = distance_from(tile[0][t], kMetric);
      const acc_t v = candidate < slice[t] ? candidate : slice[t];
      slice[t] = v;
      lanes[t] = v > lanes[t] ? v : lanes[t];
    }
  }
  acc_t best = lanes[0];
  for (int64_t t = 1; t < kTile; ++t) best = lanes[t] > best ? lanes[t] : best;
  return best;
}

// A lazy-heap entry packed into one unsigned integer: a row's bound in the high
// half, its bits mapped so that unsigned order is the floating order, and the
// complement of its index in the low half. The larger key is then the sweep's
// argmax order (the larger bound, ties to the lower index), one integer compare.
template <typename acc_t>
struct HeapKey {
  using bits_t = std::conditional_t<sizeof(acc_t) == 4, uint32_t, uint64_t>;
  using type = std::conditional_t<sizeof(acc_t) == 4, uint64_t, unsigned __int128>;
  static constexpr int kBits = 8 * sizeof(bits_t);
  static constexpr int64_t kMaxRows = sizeof(acc_t) == 4 ? (int64_t(1) << 32) - 1
                                                         : std::numeric_limits<int64_t>::max();

  // value is never NaN; + 0 makes -0 into +0, which compares equal to it.
  static type of(acc_t value, int64_t index) {
    const bits_t b = __builtin_bit_cast(bits_t, value + acc_t(0));
    const bits_t ordered = (b >> (kBits - 1)) ? ~b : b | (bits_t(1) << (kBits - 1));
    return (type(ordered) << kBits) | type(~static_cast<bits_t>(index));
  }
  static int64_t index(type key) { return static_cast<int64_t>(~static_cast<bits_t>(key)); }
};

template <typename acc_t>
acc_t block_max(const acc_t* dist, int64_t i0, int64_t i1) {
  acc_t best = -std::numeric_limits<acc_t>::infinity();
#pragma omp simd reduction(max : best)
  for (int64_t i = i0; i < i1; ++i) best = dist[i] > best ? dist[i] : best;
  return best;
}

// Steps [first, budget) of the eager greedy: every step sweeps all rows. dist [n]
// is each row's distance to the labeled rows and the picks out[0, first),
// -inf for picked or excluded rows.
template <typename scalar_t, Metric kMetric>
void eager_steps(const scalar_t* x, const scalar_t* c, int64_t n, int64_t d,
                 std::vector<at::opmath_type<scalar_t>>& dist, int64_t first, int64_t budget,
                 int64_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  constexpr acc_t kExcluded = -std::numeric_limits<acc_t>::infinity();
  const int64_t blocks = (n + kBlockRows - 1) / kBlockRows;
  // Both cover whole blocks, so the sweeps need no tail handling.
  std::vector<acc_t> tiles;
  cpu::to_tiled_columns(x, n, d, blocks * kBlockRows, tiles);
  dist.resize(blocks * kBlockRows, kExcluded);
  std::vector<acc_t> maxima(blocks);
  std::vector<acc_t> center(d);
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      maxima[b] = block_max(dist.data(), b * kBlockRows, (b + 1) * kBlockRows);
  });

  for (int64_t step = first; step < budget; ++step) {
    int64_t best_block = 0;
    for (int64_t b = 1; b < blocks; ++b)
      if (maxima[b] > maxima[best_block]) best_block = b;
    const acc_t best = maxima[best_block];
    TORCH_CHECK(best > kExcluded, "kcenter_greedy: budget ", budget, " exceeds the ", step,
                " rows whose min_dist is not -inf");
    int64_t pick = best_block * kBlockRows;
    const int64_t block_end = pick + kBlockRows;
    while (pick < block_end && !(dist[pick] == best)) ++pick;
    TORCH_CHECK(pick < block_end, "kcenter_greedy: min_dist must not contain NaN");
    out[step] = pick;
    dist[pick] = kExcluded;
    if (step + 1 == budget) break;
    for (int64_t k = 0; k < d; ++k) center[k] = static_cast<acc_t>(c[pick * d + k]);
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b)
        maxima[b] = lower_and_max<acc_t, kMetric>(tiles.data(), d, center.data(), dist.data(),
                                                  b * kBlockRows, (b + 1) * kBlockRows);
    });
  }
}

// Lazy greedy: min_dist only ever decreases, so a row's distance to the centers
// it has already seen is an upper bound of its true one. A max-heap holds the
// rows by that bound; the top row is brought up to date with the centers picked
// since it was last looked at (or only until it falls behind the next row), and
// when it is already up to date it is the farthest row (ties to the lowest
// index, as in the eager sweep). Typically a step refreshes a few rows against
// part of the centers instead of sweeping all N. Rows are refreshed with
// the same pair arithmetic as the sweep, so the picks are the eager ones.
// Returns the number of steps done; when a step refreshes more than n / 8 rows
// (data where every new center lowers most rows, e.g. duplicates), it brings
// every row up to date and returns, for eager_steps to finish.
template <typename scalar_t, Metric kMetric>
int64_t lazy_steps(const scalar_t* x, const scalar_t* c, int64_t n, int64_t d,
                   std::vector<at::opmath_type<scalar_t>>& dist, int64_t budget, int64_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  using V = cpu::Vector<acc_t>;
  using vec = typename V::type;
  constexpr acc_t kExcluded = -std::numeric_limits<acc_t>::infinity();
  using Term = cpu::NearestTerm<kMetric, acc_t>;
  // A refresh pairs one row with a strip of centers: several tiles wide, so that
  // enough independent accumulators hide the latency of the multiply-adds.
  constexpr int64_t kStripVecs = 4 * V::kPerTile;
  constexpr int64_t kStrip = kStripVecs * V::kLanes;
  const int64_t ld = budget + kStrip;
  // Picks as columns [d, ld]; the columns of picks not yet made are padding.
  std::vector<acc_t> centers(d * ld, Term::kPadding);
  std::vector<int64_t> seen(n, 0);               // picks already applied to dist[i]

  using Key = HeapKey<acc_t>;
  TORCH_CHECK(n <= Key::kMaxRows, "kcenter_greedy: x has ", n, " rows, more than the CPU kernel indexes (",
              Key::kMaxRows, ")");

  // dist[i] lowered by the centers [seen[i], upto), a strip at a time; with a
  // rival, it stops after the strip that makes row i lose to it (row i cannot
  // be this step's pick, and its dist stays the bound over the centers seen).
  // The nearest term gives the eager sweep's minimum exactly.
  const auto refresh = [&](int64_t i, int64_t upto, acc_t* row, const typename Key::type* rival) {
    for (int64_t k = 0; k < d; ++k) row[k] = static_cast<acc_t>(x[i * d + k]);
    while (seen[i] < upto) {
      const int64_t j0 = seen[i];
      vec acc[1][kStripVecs];
      cpu::pair_tile_vectors<Term::kPairing, 1, kStripVecs>(row, d, centers.data(), ld, j0, acc);
      vec best = acc[0][0];
      for (int64_t v = 1; v < kStripVecs; ++v) best = Term::nearer(best, acc[0][v]);
      const acc_t candidate = distance_from(Term::of_lanes(best), kMetric);
      dist[i] = candidate < dist[i] ? candidate : dist[i];
      seen[i] = std::min(j0 + kStrip, upto);
      if (rival != nullptr && *rival > Key::of(dist[i], i)) return;
    }
  };

  std::vector<typename Key::type> heap;  // a max-heap
  heap.reserve(n);
  for (int64_t i = 0; i < n; ++i)
    if (dist[i] > kExcluded) heap.push_back(Key::of(dist[i], i));  // NaN and -inf never qualify
  std::make_heap(heap.begin(), heap.end());
  std::vector<acc_t> row(d);

  for (int64_t step = 0; step < budget; ++step) {
    int64_t refreshed = 0;
    while (true) {
      TORCH_CHECK(!heap.empty(), "kcenter_greedy: budget ", budget, " exceeds the ", step,
                  " rows whose min_dist is not -inf");
      std::pop_heap(heap.begin(), heap.end());
      const int64_t i = Key::index(heap.back());
      if (seen[i] == step) break;
      if (++refreshed > n / 8) {
        at::parallel_for(0, n, 256, [&](int64_t i0, int64_t i1) {
          std::vector<acc_t> buffer(d);
          for (int64_t r = i0; r < i1; ++r)
            if (dist[r] > kExcluded) refresh(r, step, buffer.data(), nullptr);
        });
        return step;
      }
      // After pop_heap the best of the other rows is at the front.
      refresh(i, step, row.data(), heap.size() > 1 ? &heap.front() : nullptr);
      heap.back() = Key::of(dist[i], i);
      std::push_heap(heap.begin(), heap.end());
    }
    const int64_t pick = Key::index(heap.back());
    heap.pop_back();
    out[step] = pick;
    dist[pick] = kExcluded;
    for (int64_t k = 0; k < d; ++k) centers[k * ld + step] = static_cast<acc_t>(c[pick * d + k]);
  }
  return budget;
}

template <typename scalar_t, Metric kMetric>
void kcenter_greedy_kernel(const scalar_t* x, const scalar_t* c, int64_t n, int64_t d,
                           const at::Tensor& min_dist, int64_t budget, int64_t* out) {
  using acc_t = at::opmath_type<scalar_t>;
  std::vector<acc_t> dist(min_dist.const_data_ptr<acc_t>(), min_dist.const_data_ptr<acc_t>() + n);
  const int64_t done = lazy_steps<scalar_t, kMetric>(x, c, n, d, dist, budget, out);
  if (done < budget) eager_steps<scalar_t, kMetric>(x, c, n, d, dist, done, budget, out);
}

at::Tensor kcenter_greedy_cpu(const at::Tensor& x_in, const at::Tensor& min_dist,
                              int64_t budget, c10::string_view metric_name,
                              const std::optional<at::Tensor>& center_side) {
  const Metric metric = check_kcenter_greedy_args(x_in, min_dist, budget, metric_name, center_side);
  const auto x = x_in.contiguous();
  const auto c = center_side.has_value() ? center_side->contiguous() : x;
  const auto dist = min_dist.contiguous();
  const int64_t n = x.size(0), d = x.size(1);
  auto out = at::empty({budget}, x.options().dtype(at::kLong));
  if (budget == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "kcenter_greedy_cpu", [&] {
    const scalar_t* xp = x.const_data_ptr<scalar_t>();
    const scalar_t* cp = c.const_data_ptr<scalar_t>();
    int64_t* op = out.data_ptr<int64_t>();
    if (metric == Metric::Cosine) {
      kcenter_greedy_kernel<scalar_t, Metric::Cosine>(xp, cp, n, d, dist, budget, op);
    } else {
      kcenter_greedy_kernel<scalar_t, Metric::Euclidean>(xp, cp, n, d, dist, budget, op);
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("kcenter_greedy", &kcenter_greedy_cpu); }

}  // namespace dacs
