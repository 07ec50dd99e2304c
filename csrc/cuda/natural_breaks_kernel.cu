// CUDA registration of dacs::natural_breaks. The dynamic programme is sequential
// and branchy: CUDA tensors are solved by the CPU kernel and the breaks copied back.

#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/ops/_to_copy.h>
#include <torch/library.h>

#include "../dacs.h"

namespace dacs {
namespace {

at::Tensor natural_breaks_cuda(const at::Tensor& values, int64_t classes) {
  static const auto cpu_kernel = c10::Dispatcher::singleton()
                                     .findSchemaOrThrow("dacs::natural_breaks", "")
                                     .typed<at::Tensor(const at::Tensor&, int64_t)>();
  return cpu_kernel.call(values.to(at::kCPU), classes).to(values.device());
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CUDA, m) { m.impl("natural_breaks", &natural_breaks_cuda); }

}  // namespace dacs
