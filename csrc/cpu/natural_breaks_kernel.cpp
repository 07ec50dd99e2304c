// CPU kernel of dacs::natural_breaks: the exact Fisher-Jenks optimum, the split
// of the sorted values into `classes` contiguous groups with the least total
// within-group sum of squares.
//
// D[c][j] = min over s of D[c-1][s-1] + cost(s, j), cost(s, j) the sum of squares
// of sorted values [s, j]. The best split s of a row is non-decreasing in j (the
// cost satisfies the quadrangle inequality), so each row is filled by divide and
// conquer over j in O(N log N) evaluations of an O(1) cost from prefix sums:
// O(classes * N log N) after the sort. The arithmetic and tie rule are
// jenkspy's (sum of squares - sum^2 / w; on equal totals the smallest split s,
// i.e. the largest last group), so its breaks are reproduced exactly wherever
// the sums are exact, e.g. on integer data with many ties.

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "../dacs.h"

namespace dacs {
namespace {

// Rows below this many are filled in the calling task, without OpenMP.
constexpr int64_t kTaskRows = 4096;
// Rows below this many are scanned in order instead of divided.
constexpr int64_t kLeafRows = 32;

class FisherJenks {
 public:
  explicit FisherJenks(std::vector<double> sorted) : x_(std::move(sorted)), n_(x_.size()) {
    sum_.assign(n_ + 1, 0.0);
    sum_sq_.assign(n_ + 1, 0.0);
    for (int64_t i = 0; i < n_; ++i) {
      sum_[i + 1] = sum_[i] + x_[i];
      sum_sq_[i + 1] = sum_sq_[i] + x_[i] * x_[i];
    }
  }

  // Sum of squared deviations of sorted values [s, j] (inclusive).
  double cost(int64_t s, int64_t j) const {
    const double w = static_cast<double>(j - s + 1);
    const double sum = sum_[j + 1] - sum_[s], sum_sq = sum_sq_[j + 1] - sum_sq_[s];
    return sum_sq - (sum * sum) / w;
  }

  // [classes + 1]: the minimum, the largest value of groups 0 .. classes - 2, the maximum.
  std::vector<double> breaks(int64_t classes) const {
    // Uninitialised: every entry a row reads was written by the row before.
    auto previous = std::make_unique_for_overwrite<double[]>(n_);
    auto current = std::make_unique_for_overwrite<double[]>(n_);
    at::parallel_for(0, n_, 65536, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) previous[j] = cost(0, j);
    });
    // split[c - 1][j]: first index of the last group when values [0, j] form
    // c + 1 groups, for the rows 1 .. classes - 2; the last row is only solved
    // at j = n - 1. int32 halves the memory the rows take (n < 2^31 is checked).
    std::vector<std::unique_ptr<int32_t[]>> split;
    for (int64_t c = 1; c + 1 < classes; ++c) {
      split.push_back(std::make_unique_for_overwrite<int32_t[]>(n_));
      // Rows j >= c can hold c + 1 non-empty groups; the last one starts at s in [c, j].
#pragma omp parallel
#pragma omp single
      fill(c, n_ - 1, c, n_ - 1, previous.get(), current.get(), split.back().get());
      std::swap(previous, current);
    }
    std::vector<double> out(classes + 1);
    out[0] = x_[0];
    out[classes] = x_[n_ - 1];
    int64_t s = best_split(n_ - 1, classes - 1, n_ - 1, previous.get()).second;
    out[classes - 1] = x_[s - 1];
    for (int64_t c = classes - 2; c >= 1; --c) {
      s = split[c - 1][s - 1];
      out[c] = x_[s - 1];
    }
    return out;
  }

 private:
  // The least cost(s, j) + previous[s - 1] over s in [s_lo, s_hi] and, among
  // equal totals, the smallest s (jenkspy scans s downwards with <=). Vectorised
  // over kLanes lanes, each keeping its first minimum; cost() as a scalar scan
  // computes it, so the totals are the same.
  std::pair<double, int64_t> best_split(int64_t j, int64_t s_lo, int64_t s_hi,
                                        const double* previous) const {
    constexpr int64_t kLanes = 8;
    const int64_t count = s_hi - s_lo + 1;
    TORCH_INTERNAL_ASSERT(count >= 1, "natural_breaks: empty split range");
    const double* before = previous + s_lo - 1;
    const auto total_at = [&](int64_t k) { return cost(s_lo + k, j) + before[k]; };
    double lane_best[kLanes];
    int64_t lane_k[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) {
      lane_best[l] = std::numeric_limits<double>::infinity();
      lane_k[l] = l;
    }
    int64_t k0 = 0;
    for (; k0 + kLanes <= count; k0 += kLanes) {
#pragma omp simd
      for (int64_t l = 0; l < kLanes; ++l) {
        const double total = total_at(k0 + l);
        const bool better = total < lane_best[l];
        lane_best[l] = better ? total : lane_best[l];
        lane_k[l] = better ? k0 + l : lane_k[l];
      }
    }
    double best = std::numeric_limits<double>::infinity();
    int64_t best_k = count;
    for (int64_t l = 0; l < kLanes; ++l) {
      if (lane_best[l] < best || (lane_best[l] == best && lane_k[l] < best_k)) {
        best = lane_best[l];
        best_k = lane_k[l];
      }
    }
    for (int64_t k = k0; k < count; ++k) {
      const double total = total_at(k);
      if (total < best) {
        best = total;
        best_k = k;
      }
    }
    return {best, s_lo + best_k};
  }

  // current[j] for j in [j_lo, j_hi], whose best split lies in [s_lo, s_hi].
  // Pointers, not references: tasks take their variables firstprivate.
  void fill(int64_t j_lo, int64_t j_hi, int64_t s_lo, int64_t s_hi, const double* previous,
            double* current, int32_t* split) const {
    if (j_hi - j_lo <= kTaskRows) {
      fill_serial(j_lo, j_hi, s_lo, s_hi, previous, current, split);
      return;
    }
    const int64_t j = j_lo + (j_hi - j_lo) / 2;
    const int64_t best_s = solve(j, s_lo, s_hi, previous, current, split);
    // The halves write disjoint rows and run as parallel tasks.
#pragma omp task
    fill(j_lo, j - 1, s_lo, best_s, previous, current, split);
    fill(j + 1, j_hi, best_s, s_hi, previous, current, split);
#pragma omp taskwait
  }

  // fill without OpenMP calls, which would cost more than the work of the
  // small rows (there are N rows). Runs of up to kLeafRows rows are scanned
  // left to right, each row's split range starting at the previous row's split.
  void fill_serial(int64_t j_lo, int64_t j_hi, int64_t s_lo, int64_t s_hi, const double* previous,
                   double* current, int32_t* split) const {
    while (j_hi - j_lo >= kLeafRows) {
      const int64_t j = j_lo + (j_hi - j_lo) / 2;
      const int64_t best_s = solve(j, s_lo, s_hi, previous, current, split);
      fill_serial(j_lo, j - 1, s_lo, best_s, previous, current, split);
      j_lo = j + 1;
      s_lo = best_s;
    }
    for (int64_t j = j_lo; j <= j_hi; ++j) s_lo = solve(j, s_lo, s_hi, previous, current, split);
  }

  // Row j's best split within [s_lo, s_hi]: sets current[j] and split[j], returns the split.
  int64_t solve(int64_t j, int64_t s_lo, int64_t s_hi, const double* previous, double* current,
                int32_t* split) const {
    const std::pair<double, int64_t> found = best_split(j, s_lo, std::min(j, s_hi), previous);
    current[j] = found.first;
    split[j] = static_cast<int32_t>(found.second);
    return found.second;
  }

  std::vector<double> x_;
  int64_t n_;
  std::vector<double> sum_, sum_sq_;
};

// Unsigned key whose order is the order of the finite value: negative values
// have every bit flipped, the others only the sign bit.
template <typename bits_t, typename real_t>
bits_t order_key(real_t value) {
  constexpr bits_t kSign = bits_t(1) << (8 * sizeof(bits_t) - 1);
  const auto bits = __builtin_bit_cast(bits_t, value);
  return bits & kSign ? ~bits : bits | kSign;
}

template <typename bits_t, typename real_t>
real_t from_order_key(bits_t key) {
  constexpr bits_t kSign = bits_t(1) << (8 * sizeof(bits_t) - 1);
  return __builtin_bit_cast(real_t, key & kSign ? key ^ kSign : ~key);
}

// The values as doubles in ascending order: a parallel LSD radix sort of their
// order keys, 11 bits a pass (a comparison sort of 10^7 doubles takes several
// times longer). Passes whose digit is the same for every key are skipped.
template <typename real_t>
std::vector<double> sorted_as_double(const real_t* values, int64_t n) {
  using bits_t = std::conditional_t<sizeof(real_t) == 8, uint64_t, uint32_t>;
  constexpr int kBits = 11, kDigits = 1 << kBits;
  std::vector<bits_t> keys(n), scratch(n);
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n / 65536));
  const auto part_begin = [&](int64_t p) { return n * p / parts; };
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t i = part_begin(p0); i < part_begin(p1); ++i) keys[i] = order_key<bits_t>(values[i]);
  });
  std::vector<std::array<int64_t, kDigits>> offsets(parts);
  for (int shift = 0; shift < static_cast<int>(8 * sizeof(bits_t)); shift += kBits) {
    at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        offsets[p].fill(0);
        for (int64_t i = part_begin(p); i < part_begin(p + 1); ++i) ++offsets[p][(keys[i] >> shift) & (kDigits - 1)];
      }
    });
    bool one_digit = false;
    int64_t start = 0;
    for (int digit = 0; digit < kDigits; ++digit) {
      int64_t count = 0;
      for (int64_t p = 0; p < parts; ++p) count += offsets[p][digit];
      one_digit |= count == n;
      // Digit-major, part-minor offsets keep the sort stable.
      for (int64_t p = 0; p < parts; ++p) {
        const int64_t c = offsets[p][digit];
        offsets[p][digit] = start;
        start += c;
      }
    }
    if (one_digit) continue;
    at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        auto& next = offsets[p];
        for (int64_t i = part_begin(p); i < part_begin(p + 1); ++i)
          scratch[next[(keys[i] >> shift) & (kDigits - 1)]++] = keys[i];
      }
    });
    keys.swap(scratch);
  }
  std::vector<double> sorted(n);
  at::parallel_for(0, parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t i = part_begin(p0); i < part_begin(p1); ++i)
      sorted[i] = static_cast<double>(from_order_key<bits_t, real_t>(keys[i]));
  });
  return sorted;
}

at::Tensor natural_breaks_cpu(const at::Tensor& values, int64_t classes) {
  check_natural_breaks_args(values, classes);
  // Half and bfloat16 widen to float exactly; the breaks are computed in double.
  const auto exact = values.scalar_type() == at::kDouble ? values.contiguous() : values.to(at::kFloat).contiguous();
  std::vector<double> sorted = exact.scalar_type() == at::kDouble
                                   ? sorted_as_double(exact.const_data_ptr<double>(), exact.numel())
                                   : sorted_as_double(exact.const_data_ptr<float>(), exact.numel());
  int64_t distinct = 1;
  for (size_t i = 1; i < sorted.size(); ++i) distinct += sorted[i] != sorted[i - 1];
  TORCH_CHECK(distinct >= classes, "natural_breaks: values must hold at least classes = ", classes,
              " distinct values, got ", distinct);
  const auto breaks = FisherJenks(std::move(sorted)).breaks(classes);
  auto out = at::empty({classes + 1}, exact.options().dtype(at::kDouble));
  std::copy(breaks.begin(), breaks.end(), out.data_ptr<double>());
  return out.to(values.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("natural_breaks", &natural_breaks_cpu); }

}  // namespace dacs
