#pragma once
// Filters a results file's chunks (HDF5's shuffle + deflate, ChunkDeflater) on a thread of its own
// while the simulation goes on, and hands each chunk's filtered bytes back to be written on the
// thread that submitted it, the only one that calls HDF5. A chunk is written when `depth` chunks
// were submitted after it, or at drain(): the same writes in the same order whatever the
// threads' timing, so a file's contents do not depend on them. Depth 0: no thread, each chunk
// filtered and written at submit().
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

namespace servesim::h5 {

class ChunkDeflater;

class ChunkPipeline {
 public:
  using Write = std::function<void(std::span<const unsigned char> filtered)>;
  ChunkPipeline(int level, size_t depth);
  ~ChunkPipeline();  // drains what is left without writing it: call drain() first
  ChunkPipeline(const ChunkPipeline&) = delete;
  ChunkPipeline& operator=(const ChunkPipeline&) = delete;

  // Copies `elements` elements of `element_bytes` each; `write` gets their filtered bytes later
  // (on this thread, in submission order). Throws what an earlier chunk's filtering or write threw.
  void submit(const unsigned char* chunk, size_t elements, size_t element_bytes, Write write);
  // Writes every chunk submitted so far.
  void drain();

 private:
  struct Job;
  void retire_oldest();
  void filter_loop();

  size_t depth_;
  int level_;
  std::deque<Job*> pending_;                // submitted, not yet written, oldest first
  std::vector<std::unique_ptr<Job>> jobs_;  // every job made (reused once written)
  std::vector<Job*> idle_;
  // shared with the filtering thread
  std::mutex mutex_;
  std::condition_variable work_, filtered_;
  std::deque<Job*> to_filter_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace servesim::h5
