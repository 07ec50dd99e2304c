#pragma once

// Argument checks shared by the CPU and CUDA kernels of every op. Each is defined
// in csrc/<op>.cpp, next to nothing else, so that both backends reject exactly
// the same inputs with the same messages.

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include <optional>

#include "common/dacs_math.h"

namespace dacs {

// z [N, d] floating; rotation [rounds, d, buckets / 2] of z's dtype and device.
void check_lsh_buckets_args(const at::Tensor& z, const at::Tensor& rotation);

// buckets [N] int64 on any device; num_buckets >= 1. Values are range-checked by
// the kernels themselves.
void check_bucket_sort_args(const at::Tensor& buckets, int64_t num_buckets);

// z_sorted [N, d] floating with N >= 2; 1 <= chunks <= N; bounds, when given,
// int64 [chunks + 1] on the CPU, from 0 to N, strictly increasing.
Neighbours check_chunk_density_args(const at::Tensor& z_sorted, int64_t chunks,
                                    c10::string_view neighbours,
                                    const std::optional<at::Tensor>& bounds);

// x [N, d], y [M, d] floating, same dtype and device, M >= 1.
Metric check_min_distance_args(const at::Tensor& x, const at::Tensor& y,
                               c10::string_view metric);

// x [N, d] floating; min_dist [N] in x's accumulation dtype; 0 <= budget <= N;
// center_side, when given, [N, d] of x's dtype and device.
Metric check_kcenter_greedy_args(const at::Tensor& x, const at::Tensor& min_dist,
                                 int64_t budget, c10::string_view metric,
                                 const std::optional<at::Tensor>& center_side);

// values [N] floating with N >= classes >= 2 (distinct values are counted by the kernel).
void check_natural_breaks_args(const at::Tensor& values, int64_t classes);

// Shared pieces of the checks above.
void check_features(const at::Tensor& t, const char* name);
Metric parse_metric(c10::string_view metric);
// Float32 for half, bfloat16 and float32 inputs; float64 for float64.
at::ScalarType accumulation_dtype(at::ScalarType dtype);

}  // namespace dacs
