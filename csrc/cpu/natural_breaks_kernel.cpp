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

#include <parallel/algorithm>

#include <algorithm>
#include <limits>
#include <vector>

#include "../dacs.h"

namespace dacs {
namespace {

// Rows below this many are filled in the calling task.
constexpr int64_t kTaskRows = 4096;

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
    std::vector<double> previous(n_), current(n_);
    // split[c][j]: first index of the last group when values [0, j] form c + 1 groups.
    std::vector<std::vector<int64_t>> split(classes, std::vector<int64_t>(n_, 0));
    for (int64_t j = 0; j < n_; ++j) previous[j] = cost(0, j);
    for (int64_t c = 1; c < classes; ++c) {
      // Rows j >= c can hold c + 1 non-empty groups; the last one starts at s in
      // [c, j]. The last row is only read at j = n - 1.
      const int64_t first_j = c + 1 == classes ? n_ - 1 : c;
#pragma omp parallel
#pragma omp single
      fill(first_j, n_ - 1, c, n_ - 1, previous.data(), current.data(), split[c].data());
      std::swap(previous, current);
    }
    std::vector<double> out(classes + 1);
    out[0] = x_[0];
    out[classes] = x_[n_ - 1];
    int64_t end = n_ - 1;
    for (int64_t c = classes - 1; c >= 1; --c) {
      const int64_t s = split[c][end];
      out[c] = x_[s - 1];
      end = s - 1;
    }
    return out;
  }

 private:
  // current[j] for j in [j_lo, j_hi], whose best split lies in [s_lo, s_hi].
  // Pointers, not references: tasks take their variables firstprivate.
  void fill(int64_t j_lo, int64_t j_hi, int64_t s_lo, int64_t s_hi, const double* previous,
            double* current, int64_t* split) const {
    if (j_lo > j_hi) return;
    const int64_t j = j_lo + (j_hi - j_lo) / 2;
    double best = std::numeric_limits<double>::infinity();
    int64_t best_s = s_lo;
    // Descending s with <=, as jenkspy scans: on equal totals the smallest s wins.
    for (int64_t s = std::min(j, s_hi); s >= s_lo; --s) {
      const double total = cost(s, j) + previous[s - 1];
      if (total <= best) {
        best = total;
        best_s = s;
      }
    }
    current[j] = best;
    split[j] = best_s;
    // The halves write disjoint rows: large ones run as parallel tasks.
#pragma omp task if (j_hi - j_lo > kTaskRows)
    fill(j_lo, j - 1, s_lo, best_s, previous, current, split);
    fill(j + 1, j_hi, best_s, s_hi, previous, current, split);
#pragma omp taskwait
  }

  std::vector<double> x_;
  int64_t n_;
  std::vector<double> sum_, sum_sq_;
};

at::Tensor natural_breaks_cpu(const at::Tensor& values, int64_t classes) {
  check_natural_breaks_args(values, classes);
  const auto as_double = values.to(at::kDouble).contiguous();
  const double* v = as_double.const_data_ptr<double>();
  std::vector<double> sorted(v, v + as_double.numel());
  __gnu_parallel::sort(sorted.begin(), sorted.end());  // OpenMP multiway mergesort
  int64_t distinct = 1;
  for (size_t i = 1; i < sorted.size(); ++i) distinct += sorted[i] != sorted[i - 1];
  TORCH_CHECK(distinct >= classes, "natural_breaks: values must hold at least classes = ", classes,
              " distinct values, got ", distinct);
  const auto breaks = FisherJenks(std::move(sorted)).breaks(classes);
  auto out = at::empty({classes + 1}, as_double.options());
  std::copy(breaks.begin(), breaks.end(), out.data_ptr<double>());
  return out.to(values.scalar_type());
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("natural_breaks", &natural_breaks_cpu); }

}  // namespace dacs
