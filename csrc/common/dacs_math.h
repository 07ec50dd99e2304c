#pragma once

// Math shared by the CPU and CUDA kernels. Every definition here is the single
// source of the semantics README.md states for the ops; the backends only differ
// in how they schedule the work.

#include <cmath>
#include <cstdint>

#include "host_device.h"

namespace dacs {

enum class Neighbours : int { None = 0, Back = 1, Both = 2 };
enum class Metric : int { Cosine = 0, Euclidean = 1 };

// Chunk c of `chunks` covers sorted positions [chunk_begin(c), chunk_begin(c + 1)),
// so chunk sizes differ by at most one.
HOST_DEVICE int64_t chunk_begin(int64_t c, int64_t n, int64_t chunks) {
  return c * n / chunks;
}

// The distinct chunks whose samples are neighbours of chunk c (its own chunk
// excluded). Chunk 0 looks back to chunk chunks-1 (as Reformer does), so every
// sample sees the same number of chunks. Returns how many were written (0..2).
HOST_DEVICE int neighbour_chunks(int64_t c, int64_t chunks, Neighbours mode,
                                 int64_t out[2]) {
  int count = 0;
  if (mode == Neighbours::None) return 0;
  const int64_t back = (c + chunks - 1) % chunks;
  if (back != c) out[count++] = back;
  if (mode == Neighbours::Both) {
    const int64_t ahead = (c + 1) % chunks;
    if (ahead != c && ahead != back) out[count++] = ahead;
  }
  return count;
}

// exp() for the density weights. On the host it is a branch-free Cody-Waite
// reduction with a degree-7 polynomial (about 1 ulp on float) so that the
// compiler can vectorise the loops that call it; libm's expf is a scalar call.
HOST_DEVICE float similarity_exp(float x) {
#if defined(__CUDA_ARCH__)
  return expf(x);
#else
  // Ternaries and the 1.5 * 2^23 rounding trick rather than fminf/rintf calls,
  // which would keep the loops scalar.
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  float r = fmaf(n, -0.693145751953125f, x);
  r = fmaf(n, -1.428606765330187045e-06f, r);
  float p = 1.0f / 5040.0f;
  p = fmaf(p, r, 1.0f / 720.0f);
  p = fmaf(p, r, 1.0f / 120.0f);
  p = fmaf(p, r, 1.0f / 24.0f);
  p = fmaf(p, r, 1.0f / 6.0f);
  p = fmaf(p, r, 0.5f);
  p = fmaf(p, r, 1.0f);
  p = fmaf(p, r, 1.0f);
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * __builtin_bit_cast(float, bits);
#endif
}

HOST_DEVICE double similarity_exp(double x) { return exp(x); }

// Pairs of unit rows have |s| <= 1 (up to rounding); there sigmoid(s) * s
// = s / 2 + u * h(u) with u = s^2, and a degree-4 fit of h (Chebyshev, on
// |s| <= kSiluPolyBound) is within 1e-7 of the exact value in float32: no exp,
// no division.
constexpr float kSiluPolyBound = 1.0625f;

HOST_DEVICE float silu_near_zero(float s) {
  const float u = s * s;
  float h = 1.6473393770866096e-05f;
  h = fmaf(h, u, -2.0653315004892647e-04f);
  h = fmaf(h, u, 2.0817695185542107e-03f);
  h = fmaf(h, u, -2.0833132788538933e-02f);
  h = fmaf(h, u, 0.25f);
  return fmaf(u, h, 0.5f * s);
}

// Eq. 8 weight of one pair: sigmoid(s) * s for s = z_i . z_j (the SiLU).
HOST_DEVICE float weighted_similarity(float s) {
  return fabsf(s) <= kSiluPolyBound ? silu_near_zero(s) : s / (1.0f + similarity_exp(-s));
}

HOST_DEVICE double weighted_similarity(double s) { return s / (1.0 + exp(-s)); }

// Distance used by min_distance and k-center greedy. `dot` is z_i . z_j for the
// cosine metric (rows are unit length) and the squared L2 distance for the
// Euclidean metric. The cosine distance 1 - cos is clamped at zero because
// rounding can push the dot of two unit rows slightly above one.
template <typename acc_t>
HOST_DEVICE acc_t distance_from(acc_t dot_or_sq, Metric metric) {
  if (metric == Metric::Cosine) {
    const acc_t d = acc_t(1) - dot_or_sq;
    return d > acc_t(0) ? d : acc_t(0);
  }
  return sqrt(dot_or_sq);
}

// Argmax order: the larger value wins, ties go to the lower index.
template <typename acc_t>
HOST_DEVICE bool better_candidate(acc_t value, int64_t index, acc_t best_value,
                                  int64_t best_index) {
  return value > best_value || (value == best_value && index < best_index);
}

// Eq. 6 over a projection p[0..h): bucket = argmax([p ; -p]), first maximum wins.
// `projection(j)` returns p_j.
template <typename acc_t, typename Projection>
HOST_DEVICE int64_t lsh_bucket(int64_t half, Projection projection) {
  acc_t best_pos = projection(0);
  acc_t best_neg = -best_pos;
  int64_t arg_pos = 0;
  int64_t arg_neg = 0;
  for (int64_t j = 1; j < half; ++j) {
    const acc_t p = projection(j);
    if (p > best_pos) {
      best_pos = p;
      arg_pos = j;
    }
    if (-p > best_neg) {
      best_neg = -p;
      arg_neg = j;
    }
  }
  return best_pos >= best_neg ? arg_pos : half + arg_neg;
}

}  // namespace dacs
