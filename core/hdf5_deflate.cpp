#include "core/hdf5_deflate.h"

#include <libdeflate.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace servesim::h5 {

void ChunkDeflater::Free::operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }

namespace {

// 8 elements' bytes j..j+7 (a[r]: element r, little-endian) become bytes j..j+7's runs of 8
// elements (a[c]: byte c of elements 0..7): an 8x8 byte-matrix transpose in three swap stages.
static_assert(std::endian::native == std::endian::little, "the transpose reads byte c of a word at bits 8c");
void transpose8x8(std::uint64_t a[8]) {
  auto swap = [&](int r, int d, int shift, std::uint64_t mask) {
    const std::uint64_t t = ((a[r] >> shift) ^ a[r + d]) & mask;
    a[r + d] ^= t;
    a[r] ^= t << shift;
  };
  for (int r : {0, 1, 2, 3}) swap(r, 4, 32, 0x00000000FFFFFFFFull);
  for (int r : {0, 1, 4, 5}) swap(r, 2, 16, 0x0000FFFF0000FFFFull);
  for (int r : {0, 2, 4, 6}) swap(r, 1, 8, 0x00FF00FF00FF00FFull);
}

}  // namespace

void shuffle(const unsigned char* in, size_t elements, size_t element_bytes, unsigned char* out) {
  const size_t whole = elements / 8 * 8, wide = element_bytes / 8 * 8;
  for (size_t i = 0; i < whole; i += 8)
    for (size_t j = 0; j < wide; j += 8) {
      std::uint64_t a[8];
      for (size_t r = 0; r < 8; ++r) std::memcpy(&a[r], in + (i + r) * element_bytes + j, 8);
      transpose8x8(a);
      for (size_t c = 0; c < 8; ++c) std::memcpy(out + (j + c) * elements + i, &a[c], 8);
    }
  // the bytes past the last multiple of 8, and the elements past the last multiple of 8
  for (size_t i = 0; i < elements; ++i)
    for (size_t j = i < whole ? wide : 0; j < element_bytes; ++j) out[j * elements + i] = in[i * element_bytes + j];
}

ChunkDeflater::ChunkDeflater(int level) : compressor_(libdeflate_alloc_compressor(level)) {
  if (!compressor_) throw std::runtime_error("libdeflate: cannot make a compressor at level " + std::to_string(level));
}

ChunkDeflater::~ChunkDeflater() = default;

unsigned char* ChunkDeflater::Buffer::at_least(size_t n) {
  if (n > capacity) {
    bytes.reset(new unsigned char[n]);  // default-initialised: not zero-filled
    capacity = n;
  }
  return bytes.get();
}

std::span<const unsigned char> ChunkDeflater::filter(const unsigned char* chunk, size_t elements, size_t element_bytes) {
  const size_t bytes = elements * element_bytes;
  unsigned char* shuffled = shuffled_.at_least(bytes);
  shuffle(chunk, elements, element_bytes, shuffled);
  const size_t bound = libdeflate_zlib_compress_bound(compressor_.get(), bytes);
  unsigned char* compressed = compressed_.at_least(bound);
  const size_t n = libdeflate_zlib_compress(compressor_.get(), shuffled, bytes, compressed, bound);
  if (n == 0) throw std::runtime_error("libdeflate: compression failed within its own bound");
  return {compressed, n};
}

}  // namespace servesim::h5
