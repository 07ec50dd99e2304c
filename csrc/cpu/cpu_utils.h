#pragma once

// Helpers used only by the CPU kernels. The kernels compute pair terms a tile
// at a time: kRows rows held in registers against kTile consecutive columns of
// a column-major copy, with the column loop innermost so it vectorises.

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "../common/dacs_math.h"

namespace dacs::cpu {

// exp() for the density weights (weighted_similarity's Exp): in float a
// branch-free Cody-Waite reduction with a degree-7 polynomial (about 1 ulp) so
// that the compiler can vectorise the loops that call it; libm's expf is a
// scalar call.
struct VectorExp {
  static float of(float x) {
    // Ternaries and the 1.5 * 2^23 rounding trick rather than fminf/rintf calls,
    // which would keep the loops scalar.
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    constexpr float kRound = 12582912.0f;
    const float n = (x * 1.44269504088896341f + kRound) - kRound;
    float r = std::fmaf(n, -0.693145751953125f, x);
    r = std::fmaf(n, -1.428606765330187045e-06f, r);
    float p = 1.0f / 5040.0f;
    p = std::fmaf(p, r, 1.0f / 720.0f);
    p = std::fmaf(p, r, 1.0f / 120.0f);
    p = std::fmaf(p, r, 1.0f / 24.0f);
    p = std::fmaf(p, r, 1.0f / 6.0f);
    p = std::fmaf(p, r, 0.5f);
    p = std::fmaf(p, r, 1.0f);
    p = std::fmaf(p, r, 1.0f);
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    return p * __builtin_bit_cast(float, bits);
  }
  static double of(double x) { return std::exp(x); }
};

// Register tiles sized to the build's vector registers: a tile of kRowBlock rows
// by kTile columns keeps kRowBlock * kTile / (lanes per register) accumulators,
// which must fit the register file (32 zmm with AVX-512, 16 ymm with AVX2) or
// the compiler spills them to the stack at every step of the d loop.
#if defined(__AVX512F__)
constexpr int64_t kVectorBytes = 64;
constexpr int64_t kRowBlock = 8;
constexpr int64_t kTile = 32;
#else
constexpr int64_t kVectorBytes = 32;
constexpr int64_t kRowBlock = 4;
constexpr int64_t kTile = 16;
#endif

// Copies rows [n, d] (row-major, any floating scalar_t) into columns [d, ld] of
// the accumulation type; the columns past n (up to ld) are zero. ld >= n.
template <typename scalar_t, typename acc_t>
void to_columns(const scalar_t* rows, int64_t n, int64_t d, int64_t ld, std::vector<acc_t>& out) {
  out.assign(d * ld, acc_t(0));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < d; ++k) out[k * ld + i] = static_cast<acc_t>(rows[i * d + k]);
  }
}

// Copies rows [n, d] into tiles [padded / kTile, d, kTile]: each tile's columns
// are one contiguous run, read as a single stream (pass cols = tile start and
// ld = kTile to pair_tile). padded >= n is a multiple of kTile; entries past n
// are `fill`.
template <typename scalar_t, typename acc_t>
void to_tiled_columns(const scalar_t* rows, int64_t n, int64_t d, int64_t padded,
                      std::vector<acc_t>& out, acc_t fill = acc_t(0)) {
  out.assign(padded * d, fill);
  for (int64_t i = 0; i < n; ++i) {
    acc_t* tile = out.data() + (i / kTile) * d * kTile + i % kTile;
    for (int64_t k = 0; k < d; ++k) tile[k * kTile] = static_cast<acc_t>(rows[i * d + k]);
  }
}

// Column storage for n samples that any tile starting before n may read whole.
inline int64_t padded_columns(int64_t n) { return n + kTile; }

// Copies up to kRowBlock rows starting at `first` into `block` [kRowBlock, d],
// padding missing rows with zeros. Returns the number of real rows.
template <typename scalar_t, typename acc_t>
int64_t load_row_block(const scalar_t* rows, int64_t n, int64_t d, int64_t first,
                       acc_t* block) {
  const int64_t count = n - first < kRowBlock ? n - first : kRowBlock;
  for (int64_t r = 0; r < kRowBlock; ++r) {
    for (int64_t k = 0; k < d; ++k) {
      block[r * d + k] = r < count ? static_cast<acc_t>(rows[(first + r) * d + k]) : acc_t(0);
    }
  }
  return count;
}

enum class Pairing { Dot, SquaredDistance };

// GCC vectors of the build's register width: kPerTile of them hold one row of a tile.
template <typename acc_t>
struct Vector {
  typedef acc_t type __attribute__((vector_size(kVectorBytes)));
  // The same vector, readable at any acc_t-aligned address.
  typedef acc_t unaligned __attribute__((vector_size(kVectorBytes), aligned(alignof(acc_t)), may_alias));
  static constexpr int64_t kLanes = kVectorBytes / sizeof(acc_t);
  static constexpr int64_t kPerTile = kTile / kLanes;
  static_assert(kTile % kLanes == 0, "a tile must be whole vectors");
  // Integers as wide as acc_t, which a comparison's mask can select.
  using index_t = std::conditional_t<sizeof(acc_t) == 4, int32_t, int64_t>;
  typedef index_t index_type __attribute__((vector_size(kVectorBytes)));
};

// acc[r][v] lane t = x_r . y_{j0+v*kLanes+t} (Dot) or |x_r - y_{j0+v*kLanes+t}|^2
// (SquaredDistance) for rows [kRows, d] (row-major) and cols [d, ld]
// (column-major): kRows rows against kVecs vectors of columns, kRows * kVecs
// accumulators that must fit the register file. Callers that reduce the terms
// further while they are still in registers take these vectors; the
// accumulators are GCC vectors so that they stay in registers across the d loop
// (an array would be stored and reloaded for every k).
template <Pairing kPairing, int64_t kRows, int64_t kVecs, typename acc_t>
inline void pair_tile_vectors(const acc_t* rows, int64_t d, const acc_t* cols, int64_t ld, int64_t j0,
                              typename Vector<acc_t>::type (&acc)[kRows][kVecs]) {
  using V = Vector<acc_t>;
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t v = 0; v < kVecs; ++v) acc[r][v] = typename V::type{};
  for (int64_t k = 0; k < d; ++k) {
    const auto* y = reinterpret_cast<const typename V::unaligned*>(cols + k * ld + j0);
    for (int64_t r = 0; r < kRows; ++r) {
      const acc_t x = rows[r * d + k];
      for (int64_t v = 0; v < kVecs; ++v) {
        if constexpr (kPairing == Pairing::Dot) {
          acc[r][v] += x * y[v];
        } else {
          const typename V::type e = x - y[v];
          acc[r][v] += e * e;
        }
      }
    }
  }
}

// The pair term that tells a row's nearest center under kMetric: the largest dot
// (cosine, on unit rows) or the smallest squared distance (Euclidean). Both map
// to the distance monotonically, so the nearest term gives the minimum exactly.
template <Metric kMetric, typename acc_t>
struct NearestTerm {
  static constexpr bool kCosine = kMetric == Metric::Cosine;
  static constexpr Pairing kPairing = kCosine ? Pairing::Dot : Pairing::SquaredDistance;
  // A term that is never the nearer one.
  static constexpr acc_t kNone = kCosine ? -std::numeric_limits<acc_t>::infinity()
                                         : std::numeric_limits<acc_t>::infinity();
  // A coordinate for columns that must never count: their terms are NaN, which
  // never win `nearer`, so tiles padded with it need no mask (a masked tile
  // keeps its accumulators in memory, not registers).
  static constexpr acc_t kPadding = std::numeric_limits<acc_t>::quiet_NaN();
  // The nearer of two terms, lane by lane on vectors; a NaN b never wins.
  template <typename T>
  static T nearer(T a, T b) {
    return kCosine ? (b > a ? b : a) : (b < a ? b : a);
  }
  // The nearest of a vector's lanes.
  static acc_t of_lanes(typename Vector<acc_t>::type v) {
    acc_t best = v[0];
    for (int64_t t = 1; t < Vector<acc_t>::kLanes; ++t) best = nearer(best, v[t]);
    return best;
  }
};

// pair_tile_vectors stored to out[r][t], the pair term of row r and column j0 + t.
template <Pairing kPairing, int64_t kRows, typename acc_t>
inline void pair_tile(const acc_t* rows, int64_t d, const acc_t* cols, int64_t ld, int64_t j0,
                      acc_t (&out)[kRows][kTile]) {
  using V = Vector<acc_t>;
  typename V::type acc[kRows][V::kPerTile];
  pair_tile_vectors<kPairing, kRows, V::kPerTile>(rows, d, cols, ld, j0, acc);
  __builtin_memcpy(out, acc, sizeof(acc));
}

// silu_near_zero (dacs_math.h) on a GCC vector of floats, lane by lane: the same
// Horner steps, each a * b + c that GCC contracts into one fused multiply-add as
// fmaf is.
template <typename vec>
inline vec silu_near_zero_vec(vec s) {
  const vec u = s * s;
  vec h = kSiluH4 * u + kSiluH3;
  h = h * u + kSiluH2;
  h = h * u + kSiluH1;
  h = h * u + kSiluH0;
  return u * h + 0.5f * s;
}

}  // namespace dacs::cpu
