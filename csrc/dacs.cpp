// The dacs operator library: every schema in one place (pytorch/extension-cpp
// convention). Kernels register themselves with TORCH_LIBRARY_IMPL in
// csrc/cpu/<op>_kernel.cpp and csrc/cuda/<op>_kernel.cu.

#include <torch/library.h>

#include <string>

#include "dacs.h"

namespace dacs {

void check_features(const at::Tensor& t, const char* name) {
  TORCH_CHECK(t.dim() == 2, name, " must be 2-D [N, d], got ", t.sizes());
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), name,
              " must be a floating tensor (float16, bfloat16, float32 or float64), got ",
              t.scalar_type());
  TORCH_CHECK(t.size(1) >= 1, name, " must have at least one feature column, got ",
              t.sizes());
}

Metric parse_metric(c10::string_view metric) {
  if (metric == "cosine") return Metric::Cosine;
  if (metric == "euclidean") return Metric::Euclidean;
  TORCH_CHECK(false, "metric must be 'cosine' or 'euclidean', got '", metric, "'");
}

at::ScalarType accumulation_dtype(at::ScalarType dtype) {
  return dtype == at::kDouble ? at::kDouble : at::kFloat;
}

// The vector extensions the CPU kernels were compiled with (their -march): two
// builds of the same source round differently, so results name it
// (dacs_ext.machine).
std::string cpu_isa() {
  std::string isa;
  const auto add = [&isa](const char* name) {
    if (!isa.empty()) isa += ' ';
    isa += name;
  };
#if defined(__x86_64__)
  add("x86-64");
#elif defined(__aarch64__)
  add("aarch64");
#else
  add("unknown-arch");
#endif
#ifdef __AVX2__
  add("AVX2");
#endif
#ifdef __FMA__
  add("FMA");
#endif
#ifdef __AVX512F__
  add("AVX-512F");
#endif
#ifdef __AVX512BW__
  add("AVX-512BW");
#endif
#ifdef __AVX512VL__
  add("AVX-512VL");
#endif
#ifdef __AVX512BF16__
  add("AVX-512BF16");
#endif
#ifdef __AVX512FP16__
  add("AVX-512FP16");
#endif
#ifdef __AMX_TILE__
  add("AMX-TILE");
#endif
#ifdef __ARM_NEON
  add("NEON");
#endif
  return isa;
}

}  // namespace dacs

TORCH_LIBRARY(dacs, m) {
  // Eq. 6 per hashing round: argmax([z R ; -z R]). z [N, d], rotation [rounds, d, k/2]
  // -> int64 [rounds, N] in [0, k).
  m.def("lsh_buckets(Tensor z, Tensor rotation) -> Tensor");
  // Stable counting sort: buckets [N] int64 in [0, num_buckets) -> order [N] int64.
  // On CUDA its range check is read back by the host (a sync), so the op cannot be
  // captured in a CUDA graph; nor can kcenter_greedy (its failure check) or
  // natural_breaks (which runs on the CPU).
  m.def("bucket_sort(Tensor buckets, int num_buckets) -> Tensor", {at::Tag::cudagraph_unsafe});
  // Eq. 7-8 over equal-size chunks of the sorted rows: z_sorted [N, d] -> [N]
  // (float32, or float64 for float64 input). neighbours: 'back', 'both' or 'none'.
  // bounds, when given: int64 [chunks + 1] on the CPU, chunk c being rows
  // [bounds[c], bounds[c + 1]) (a shard's chunks in distributed selection); by
  // default the equal split, sizes differing by at most one.
  m.def("chunk_density(Tensor z_sorted, int chunks, str neighbours, Tensor? bounds=None) -> Tensor");
  // Distance from every row of x [N, d] to its nearest row of y [M, d] -> [N].
  // metric: 'cosine' (1 - x.y, unit rows) or 'euclidean'.
  m.def("min_distance(Tensor x, Tensor y, str metric) -> Tensor");
  // Algorithm 1 lines 7-10: budget greedy farthest-point picks over x [N, d] given
  // each row's distance to the current centers min_dist [N] (-inf excludes a row)
  // -> int64 [budget]. A picked row j becomes the center center_side[j] [d]
  // (default x[j]): the distance of row i to it pairs x[i] with center_side[j], so
  // an asymmetric pairing (CDAL's symmetric KL) runs on the same kernels.
  m.def("kcenter_greedy(Tensor x, Tensor min_dist, int budget, str metric, Tensor? center_side=None) -> Tensor",
        {at::Tag::cudagraph_unsafe});
  // Exact Fisher-Jenks breaks of values [N] into `classes` groups -> [classes + 1]
  // in values' dtype: the minimum, the largest value of each group but the last,
  // the maximum (jenkspy.jenks_breaks).
  m.def("natural_breaks(Tensor values, int classes) -> Tensor", {at::Tag::cudagraph_unsafe});
  // The instruction sets the CPU kernels were compiled for, e.g. "x86-64 AVX2 FMA".
  m.def("cpu_isa() -> str", &dacs::cpu_isa);
}
