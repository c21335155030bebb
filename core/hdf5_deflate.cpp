#include "core/hdf5_deflate.h"

#include <libdeflate.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <cstdio>
#include <cstdlib>

namespace servesim::h5 {

void ChunkDeflater::Free::operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }

ChunkDeflater::ChunkDeflater(int level) : compressor_(libdeflate_alloc_compressor(level)) {
  if (!compressor_) throw std::runtime_error("libdeflate: cannot make a compressor at level " + std::to_string(level));
}

ChunkDeflater::~ChunkDeflater() = default;

std::span<const unsigned char> ChunkDeflater::filter(const unsigned char* chunk, size_t elements, size_t element_bytes) {
  const size_t bytes = elements * element_bytes;
  static size_t total = 0, calls = 0; total += bytes; ++calls; if (getenv("DEFL_DEBUG")) fprintf(stderr, "filter %zu x %zu total %zu calls %zu\n", elements, element_bytes, total, calls);
  // HDF5's shuffle: byte j of every element together, j = 0 .. element_bytes - 1
  shuffled_.resize(bytes);
  // in tiles of elements whose bytes stay in the L1 cache while each of their bytes is spread
  constexpr size_t kTile = 64;
  for (size_t first = 0; first < elements; first += kTile) {
    const size_t last = std::min(elements, first + kTile);
    for (size_t j = 0; j < element_bytes; ++j) {
      unsigned char* out = &shuffled_[j * elements];
      for (size_t i = first; i < last; ++i) out[i] = chunk[i * element_bytes + j];
    }
  }
  compressed_.resize(libdeflate_zlib_compress_bound(compressor_.get(), bytes));
  const size_t n = libdeflate_zlib_compress(compressor_.get(), shuffled_.data(), bytes, compressed_.data(), compressed_.size());
  if (n == 0) throw std::runtime_error("libdeflate: compression failed within its own bound");
  return {compressed_.data(), n};
}

}  // namespace servesim::h5
