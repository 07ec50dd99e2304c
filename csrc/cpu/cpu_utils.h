#pragma once

// Helpers used only by the CPU kernels.

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cstdint>

namespace dacs::cpu {

// Copies rows [N, d] (row-major, any floating scalar_t) into columns [d, ld] of the
// accumulation type, so that the kernels' inner loops run over contiguous samples
// and vectorise. Only the first n columns of each row of `out` are written.
template <typename scalar_t, typename acc_t>
void transpose_rows(const scalar_t* rows, int64_t n, int64_t d, acc_t* out, int64_t ld) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < d; ++k) {
      out[k * ld + i] = static_cast<acc_t>(rows[i * d + k]);
    }
  }
}

// Rows are processed this many at a time so each loaded column feeds several
// accumulators.
constexpr int64_t kRowBlock = 4;

// Copies up to kRowBlock rows starting at `first` into `block` [kRowBlock, d],
// padding missing rows with zeros. Returns the number of real rows.
template <typename scalar_t, typename acc_t>
int64_t load_row_block(const scalar_t* rows, int64_t n, int64_t d, int64_t first,
                       acc_t* block) {
  const int64_t count = n - first < kRowBlock ? n - first : kRowBlock;
  for (int64_t r = 0; r < kRowBlock; ++r) {
    for (int64_t k = 0; k < d; ++k) {
      block[r * d + k] = r < count ? static_cast<acc_t>(rows[(first + r) * d + k]) : acc_t(0);
    }
  }
  return count;
}

}  // namespace dacs::cpu
