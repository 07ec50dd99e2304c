#include <torch/library.h>

#include "dacs.h"

namespace dacs {

Neighbours check_chunk_density_args(const at::Tensor& z_sorted, int64_t chunks,
                                    c10::string_view neighbours,
                                    const std::optional<at::Tensor>& bounds) {
  check_features(z_sorted, "z_sorted");
  const int64_t n = z_sorted.size(0);
  TORCH_CHECK(n >= 2, "z_sorted must have at least 2 rows to have neighbours, got ", n);
  TORCH_CHECK(chunks >= 1 && chunks <= n, "chunks must be in [1, N = ", n, "], got ",
              chunks);
  if (bounds.has_value()) {
    TORCH_CHECK(bounds->dim() == 1 && bounds->size(0) == chunks + 1 &&
                    bounds->scalar_type() == at::kLong && bounds->device().is_cpu(),
                "bounds must be an int64 CPU tensor [chunks + 1 = ", chunks + 1, "], got ",
                bounds->scalar_type(), " ", bounds->sizes(), " on ", bounds->device());
    const auto b = bounds->contiguous();
    const int64_t* at = b.const_data_ptr<int64_t>();
    TORCH_CHECK(at[0] == 0 && at[chunks] == n, "bounds must run from 0 to N = ", n, ", got ",
                at[0], " to ", at[chunks]);
    for (int64_t c = 0; c < chunks; ++c) {
      TORCH_CHECK(at[c] < at[c + 1], "bounds must be strictly increasing (every chunk holds a row), got ",
                  at[c], " then ", at[c + 1], " at chunk ", c);
    }
  }
  if (neighbours == "back") return Neighbours::Back;
  if (neighbours == "both") return Neighbours::Both;
  if (neighbours == "none") return Neighbours::None;
  TORCH_CHECK(false, "neighbours must be 'back', 'both' or 'none', got '", neighbours,
              "'");
}

}  // namespace dacs

// The op's schema, beside the checks every backend runs.
TORCH_LIBRARY_FRAGMENT(dacs, m) {
  // Eq. 7-8 over equal-size chunks of the sorted rows: z_sorted [N, d] -> [N]
  // (float32, or float64 for float64 input). neighbours: 'back', 'both' or 'none'.
  // bounds, when given: int64 [chunks + 1] on the CPU, chunk c being rows
  // [bounds[c], bounds[c + 1]) (a shard's chunks in distributed selection); by
  // default the equal split, sizes differing by at most one.
  m.def("chunk_density(Tensor z_sorted, int chunks, str neighbours, Tensor? bounds=None) -> Tensor");
}
