#include <ATen/ops/_to_copy.h>
#include <torch/library.h>

#include "dacs.h"

namespace dacs {

void check_natural_breaks_args(const at::Tensor& values, int64_t classes) {
  TORCH_CHECK(values.dim() == 1, "values must be 1-D [N], got ", values.sizes());
  TORCH_CHECK(at::isFloatingType(values.scalar_type()), "values must be a floating tensor, got ",
              values.scalar_type());
  TORCH_CHECK(classes >= 2, "classes must be at least 2, got ", classes);
  TORCH_CHECK(values.numel() >= classes, "values must hold at least classes = ", classes,
              " values, got ", values.numel());
}

namespace {

// The dynamic programme is sequential and branchy: CUDA tensors are solved on the
// CPU and the breaks are copied back.
at::Tensor natural_breaks_cuda(const at::Tensor& values, int64_t classes) {
  static const auto cpu_kernel = c10::Dispatcher::singleton()
                                     .findSchemaOrThrow("dacs::natural_breaks", "")
                                     .typed<at::Tensor(const at::Tensor&, int64_t)>();
  return cpu_kernel.call(values.to(at::kCPU), classes).to(values.device());
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("natural_breaks", &natural_breaks_cuda); }

}  // namespace dacs
