// The dacs operator library: the namespace, what every op shares (feature and
// metric checks, the accumulation dtype) and the build's instruction set. Each
// op's schema is in csrc/<op>.cpp beside its checks (TORCH_LIBRARY_FRAGMENT);
// kernels register themselves with TORCH_LIBRARY_IMPL in csrc/cpu/<op>_kernel.cpp
// and csrc/cuda/<op>_kernel.cu.

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
  // The instruction sets the CPU kernels were compiled for, e.g. "x86-64 AVX2 FMA".
  m.def("cpu_isa() -> str", &dacs::cpu_isa);
}
