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

// Chunk c's first position: bounds[c] when the caller gave the chunks' bounds
// [chunks + 1], else the equal split.
HOST_DEVICE int64_t chunk_start(int64_t c, int64_t n, int64_t chunks, const int64_t* bounds) {
  return bounds != nullptr ? bounds[c] : chunk_begin(c, n, chunks);
}

// The most rows any chunk holds.
inline int64_t longest_chunk(int64_t n, int64_t chunks, const int64_t* bounds) {
  int64_t longest = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t rows = chunk_start(c + 1, n, chunks, bounds) - chunk_start(c, n, chunks, bounds);
    longest = rows > longest ? rows : longest;
  }
  return longest;
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

// Pairs of unit rows have |s| <= 1 (up to rounding); there sigmoid(s) * s
// = s / 2 + u * h(u) with u = s^2, and a degree-4 fit of h (Chebyshev, on
// |s| <= kSiluPolyBound) is within 1e-7 of the exact value in float32: no exp,
// no division.
constexpr float kSiluPolyBound = 1.0625f;
// h's coefficients, highest degree first (the CPU kernels' vector form reads them too).
constexpr float kSiluH4 = 1.6473393770866096e-05f, kSiluH3 = -2.0653315004892647e-04f,
                kSiluH2 = 2.0817695185542107e-03f, kSiluH1 = -2.0833132788538933e-02f, kSiluH0 = 0.25f;

HOST_DEVICE float silu_near_zero(float s) {
  const float u = s * s;
  float h = kSiluH4;
  h = fmaf(h, u, kSiluH3);
  h = fmaf(h, u, kSiluH2);
  h = fmaf(h, u, kSiluH1);
  h = fmaf(h, u, kSiluH0);
  return fmaf(u, h, 0.5f * s);
}

// Whether every dot of two rows stays within kSiluPolyBound, given the rows'
// largest squared norm: |z_i . z_j| <= max |z|^2, and float rounding adds at most
// a factor 1 + d 2^-23 (the bound allows twice that). True for unit rows.
HOST_DEVICE bool dots_within_poly_bound(float largest_square_norm, int64_t d) {
  return largest_square_norm * (1.0f + static_cast<float>(d) * 0x1p-22f) <= kSiluPolyBound;
}

// Eq. 8 weight of one pair: sigmoid(s) * s for s = z_i . z_j (the SiLU). Exp::of
// is the backend's exp(): CUDA's expf (cuda::DeviceExp), or on the CPU a
// polynomial that lets the loops vectorise (cpu::VectorExp).
template <typename Exp>
HOST_DEVICE float weighted_similarity(float s) {
  return fabsf(s) <= kSiluPolyBound ? silu_near_zero(s) : s / (1.0f + Exp::of(-s));
}

template <typename Exp>
HOST_DEVICE double weighted_similarity(double s) {
  return s / (1.0 + Exp::of(-s));
}

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

// Eq. 6 folded one projection at a time: the bucket of p[0..half) is
// argmax([p ; -p]) with the first maximum winning, i.e. the first largest p_j
// (bucket j) or the first smallest (bucket half + j), the largest on a tie of
// magnitudes. Strict comparisons keep first extremes, and a NaN p_0 makes every
// later comparison false, so a NaN row lands in bucket `half`.
template <typename acc_t>
struct LshArgmax {
  acc_t hi, lo;
  int64_t hi_at, lo_at;

  HOST_DEVICE void start(acc_t p0) {
    hi = lo = p0;
    hi_at = lo_at = 0;
  }
  HOST_DEVICE void fold(int64_t j, acc_t p) {
    if (p > hi) {
      hi = p;
      hi_at = j;
    }
    if (p < lo) {
      lo = p;
      lo_at = j;
    }
  }
  HOST_DEVICE int64_t bucket(int64_t half) const { return hi >= -lo ? hi_at : half + lo_at; }
};

}  // namespace dacs
