#include <torch/library.h>

#include "dacs.h"

namespace dacs {

void check_lsh_buckets_args(const at::Tensor& z, const at::Tensor& rotation) {
  check_features(z, "z");
  TORCH_CHECK(rotation.dim() == 3,
              "rotation must be 3-D [rounds, d, buckets / 2], got ", rotation.sizes());
  TORCH_CHECK(rotation.size(1) == z.size(1), "rotation must have d = ", z.size(1),
              " rows per round to match z, got ", rotation.sizes());
  TORCH_CHECK(rotation.size(0) >= 1 && rotation.size(2) >= 1,
              "rotation must have at least one round and one column, got ",
              rotation.sizes());
  TORCH_CHECK(rotation.scalar_type() == z.scalar_type(), "rotation must have z's dtype ",
              z.scalar_type(), ", got ", rotation.scalar_type());
  TORCH_CHECK(rotation.device() == z.device(), "rotation must be on z's device ",
              z.device(), ", got ", rotation.device());
}

}  // namespace dacs

// The op's schema, beside the checks every backend runs.
TORCH_LIBRARY_FRAGMENT(dacs, m) {
  // Eq. 6 per hashing round: argmax([z R ; -z R]). z [N, d], rotation [rounds, d, k/2]
  // -> int64 [rounds, N] in [0, k).
  m.def("lsh_buckets(Tensor z, Tensor rotation) -> Tensor");
}
