#include "dacs.h"

namespace dacs {

Neighbours check_chunk_density_args(const at::Tensor& z_sorted, int64_t chunks,
                                    c10::string_view neighbours) {
  check_features(z_sorted, "z_sorted");
  const int64_t n = z_sorted.size(0);
  TORCH_CHECK(n >= 2, "z_sorted must have at least 2 rows to have neighbours, got ", n);
  TORCH_CHECK(chunks >= 1 && chunks <= n, "chunks must be in [1, N = ", n, "], got ",
              chunks);
  if (neighbours == "back") return Neighbours::Back;
  if (neighbours == "both") return Neighbours::Both;
  if (neighbours == "none") return Neighbours::None;
  TORCH_CHECK(false, "neighbours must be 'back', 'both' or 'none', got '", neighbours,
              "'");
}

}  // namespace dacs
