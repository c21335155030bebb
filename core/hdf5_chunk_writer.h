#pragma once
// Whole chunks of HDF5 datasets, filtered (shuffle + deflate, core/hdf5_deflate.h) and written
// with H5Dwrite_chunk. With a helper thread, the filtering runs beside the simulation, which is
// single-threaded: compressing /requests was 15-20% of a long run's wall time on one core. The
// helper starts only once a run has written a few chunks: a second thread makes glibc's
// allocator take locks, which cost a short run (the Mooncake trace, 12k requests) 3%. Every
// HDF5 call stays on the owner's thread (the library is not thread-safe), and chunks reach the
// file in the order they were queued, so a chunk rewritten later (a table's last, unfinished
// one) always ends with its newest rows.
#include <hdf5.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/hdf5_deflate.h"

namespace servesim::h5 {

class ChunkWriter {
 public:
  enum class Mode { kInline, kHelperThread };
  explicit ChunkWriter(Mode mode, int deflate_level);
  ~ChunkWriter();  // stops the helper; call drain() first, or queued chunks are not written
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // A chunk of `dataset` starting at `first_row`: `elements` rows of `element_bytes`, copied.
  // Inline (and the first kInlineChunks with a helper): filtered and written now. Helper thread:
  // queued (the caller waits only when several are already queued); written by a later write()
  // or drain(), in queue order.
  void write(hid_t dataset, size_t first_row, const unsigned char* chunk, size_t elements, size_t element_bytes);
  // Every queued chunk filtered and written: before a flush, and before a dataset closes.
  void drain();

 private:
  struct Job {
    hid_t dataset;
    size_t first_row, elements, element_bytes;
    std::vector<unsigned char> raw, filtered;
    std::string error;  // the filter's, thrown on the owner's thread
    bool done = false;
  };
  void helper();
  void write_done_jobs(size_t keep_queued);  // writes finished jobs from the front until <= keep_queued remain
  void write_to_file(const Job& job) const;

  static constexpr int kInlineChunks = 8;
  Mode mode_;
  int written_inline_ = 0;
  ChunkDeflater inline_deflater_;  // kInline's (the helper has its own)
  int level_;
  std::deque<Job> jobs_;  // queue order; the helper filters the first not done
  std::mutex mutex_;
  std::condition_variable job_queued_, job_done_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace servesim::h5
