// CPU kernel of dacs::chunk_density (Eq. 7-8). Parallel over chunks; each task
// keeps its chunk and one neighbour chunk transposed to [d, m] in the
// accumulation type (O(d * N / chunks) memory per thread, never a chunk-by-chunk
// matrix) and sweeps them with blocks of kRowBlock rows. Pairs inside a chunk
// are evaluated once and credited to both samples.

#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <vector>

#include "../dacs.h"
#include "cpu_utils.h"

namespace dacs {
namespace {

// Adds to row_sum[r] the weights of rows block[r] (kRowBlock rows of d) against
// the columns [j0, j1) of cols [d, ld]; with col_sum also credits each column.
template <typename acc_t>
void accumulate_block(const acc_t* block, int64_t d, const acc_t* cols, int64_t ld,
                      int64_t j0, int64_t j1, acc_t* row_sum, acc_t* col_sum) {
  static_assert(cpu::kRowBlock == 4, "the unrolled accumulators below assume 4 rows");
  acc_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
  for (int64_t j = j0; j < j1; ++j) {
    acc_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int64_t k = 0; k < d; ++k) {
      const acc_t y = cols[k * ld + j];
      a0 += block[k] * y;
      a1 += block[d + k] * y;
      a2 += block[2 * d + k] * y;
      a3 += block[3 * d + k] * y;
    }
    const acc_t w0 = weighted_similarity(a0), w1 = weighted_similarity(a1),
                w2 = weighted_similarity(a2), w3 = weighted_similarity(a3);
    s0 += w0;
    s1 += w1;
    s2 += w2;
    s3 += w3;
    if (col_sum != nullptr) col_sum[j] += (w0 + w1) + (w2 + w3);
  }
  row_sum[0] += s0;
  row_sum[1] += s1;
  row_sum[2] += s2;
  row_sum[3] += s3;
}

template <typename scalar_t>
void chunk_density_kernel(const scalar_t* z, int64_t n, int64_t d, int64_t chunks,
                          Neighbours mode, at::opmath_type<scalar_t>* out) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t max_rows = (n + chunks - 1) / chunks;
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    std::vector<acc_t> own(d * max_rows), other(d * max_rows);
    std::vector<acc_t> block(cpu::kRowBlock * d);
    acc_t row_sum[cpu::kRowBlock];
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t begin = chunk_begin(c, n, chunks), m = chunk_begin(c + 1, n, chunks) - begin;
      acc_t* density = out + begin;
      for (int64_t i = 0; i < m; ++i) density[i] = acc_t(0);
      cpu::transpose_rows(z + begin * d, m, d, own.data(), m);

      for (int64_t i0 = 0; i0 < m; i0 += cpu::kRowBlock) {
        const int64_t rows = cpu::load_row_block(z + begin * d, m, d, i0, block.data());
        // Pairs inside the block, then the block against the later rows of the chunk;
        // zero padding rows weigh 0 against everything.
        for (int64_t a = 0; a < rows; ++a) {
          for (int64_t b = a + 1; b < rows; ++b) {
            acc_t s = 0;
            for (int64_t k = 0; k < d; ++k) s += block[a * d + k] * block[b * d + k];
            const acc_t w = weighted_similarity(s);
            density[i0 + a] += w;
            density[i0 + b] += w;
          }
        }
        for (int64_t r = 0; r < cpu::kRowBlock; ++r) row_sum[r] = acc_t(0);
        accumulate_block(block.data(), d, own.data(), m, i0 + rows, m, row_sum, density);
        for (int64_t r = 0; r < rows; ++r) density[i0 + r] += row_sum[r];
      }

      int64_t neighbours[2];
      const int count = neighbour_chunks(c, chunks, mode, neighbours);
      for (int q = 0; q < count; ++q) {
        const int64_t nb_begin = chunk_begin(neighbours[q], n, chunks);
        const int64_t nb_rows = chunk_begin(neighbours[q] + 1, n, chunks) - nb_begin;
        cpu::transpose_rows(z + nb_begin * d, nb_rows, d, other.data(), nb_rows);
        for (int64_t i0 = 0; i0 < m; i0 += cpu::kRowBlock) {
          const int64_t rows = cpu::load_row_block(z + begin * d, m, d, i0, block.data());
          for (int64_t r = 0; r < cpu::kRowBlock; ++r) row_sum[r] = acc_t(0);
          accumulate_block<acc_t>(block.data(), d, other.data(), nb_rows, 0, nb_rows, row_sum,
                                  nullptr);
          for (int64_t r = 0; r < rows; ++r) density[i0 + r] += row_sum[r];
        }
      }
    }
  });
}

at::Tensor chunk_density_cpu(const at::Tensor& z_in, int64_t chunks,
                             c10::string_view neighbours) {
  const Neighbours mode = check_chunk_density_args(z_in, chunks, neighbours);
  const auto z = z_in.contiguous();
  const int64_t n = z.size(0), d = z.size(1);
  auto out = at::empty({n}, z.options().dtype(accumulation_dtype(z.scalar_type())));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, z.scalar_type(), "chunk_density_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    chunk_density_kernel<scalar_t>(z.const_data_ptr<scalar_t>(), n, d, chunks, mode,
                                   out.data_ptr<acc_t>());
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(dacs, CPU, m) { m.impl("chunk_density", &chunk_density_cpu); }

}  // namespace dacs
