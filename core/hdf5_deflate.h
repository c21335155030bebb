#pragma once
// A chunk filtered as HDF5's shuffle + deflate pipeline writes it (H5Pset_shuffle, then
// H5Pset_deflate), for direct chunk writes (H5Dwrite_chunk). The deflate is libdeflate's: the
// standard zlib stream every HDF5 reader (h5py, h5dump) decodes, made about 20% faster than by
// zlib at the same level; compressing /requests was a fifth of a 100k-request run's wall time.
#include <cstddef>
#include <memory>
#include <span>

struct libdeflate_compressor;

namespace servesim::h5 {

// HDF5's shuffle filter: byte j of every element together, j = 0 .. element_bytes - 1
// (out[j * elements + i] = in[i * element_bytes + j]).
void shuffle(const unsigned char* in, size_t elements, size_t element_bytes, unsigned char* out);

class ChunkDeflater {
 public:
  explicit ChunkDeflater(int level);
  ~ChunkDeflater();
  ChunkDeflater(const ChunkDeflater&) = delete;
  ChunkDeflater& operator=(const ChunkDeflater&) = delete;
  // The filtered bytes of `elements` elements of `element_bytes` each; valid until the next call.
  std::span<const unsigned char> filter(const unsigned char* chunk, size_t elements, size_t element_bytes);

 private:
  struct Free {
    void operator()(libdeflate_compressor* c) const;
  };
  // Grown to the largest chunk filtered, never zero-filled: a file's tables share one deflater,
  // and the bytes past what a call writes are never read (nor, untouched, even paged in).
  struct Buffer {
    std::unique_ptr<unsigned char[]> bytes;
    size_t capacity = 0;
    unsigned char* at_least(size_t n);
  };
  std::unique_ptr<libdeflate_compressor, Free> compressor_;
  Buffer shuffled_, compressed_;
};

}  // namespace servesim::h5
