#include "core/chunk_pipeline.h"

#include "core/hdf5_deflate.h"

namespace servesim::h5 {

struct ChunkPipeline::Job {
  explicit Job(int level) : deflater(level) {}
  ChunkDeflater deflater;  // its own buffers: the bytes it filtered stay until the job is reused
  std::vector<unsigned char> rows;
  size_t elements = 0, element_bytes = 0;
  Write write;
  std::span<const unsigned char> filtered;
  std::exception_ptr error;
  bool done = false;  // guarded by mutex_ while the thread runs
};

ChunkPipeline::ChunkPipeline(int level, size_t depth) : depth_(depth), level_(level) {
  if (depth_ > 0) thread_ = std::thread([this] { filter_loop(); });
}

ChunkPipeline::~ChunkPipeline() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
    to_filter_.clear();  // (chunks never written: an error is unwinding the file)
  }
  work_.notify_one();
  thread_.join();
}

void ChunkPipeline::submit(const unsigned char* chunk, size_t elements, size_t element_bytes, Write write) {
  while (!pending_.empty() && pending_.size() >= depth_) retire_oldest();
  Job* job;
  if (idle_.empty()) {
    jobs_.push_back(std::make_unique<Job>(level_));
    job = jobs_.back().get();
  } else {
    job = idle_.back();
    idle_.pop_back();
  }
  job->rows.assign(chunk, chunk + elements * element_bytes);
  job->elements = elements;
  job->element_bytes = element_bytes;
  job->write = std::move(write);
  job->error = nullptr;
  job->done = false;
  pending_.push_back(job);
  if (depth_ == 0) {
    job->filtered = job->deflater.filter(job->rows.data(), elements, element_bytes);
    job->done = true;
    retire_oldest();
    return;
  }
  {
    std::lock_guard lock(mutex_);
    to_filter_.push_back(job);
  }
  work_.notify_one();
}

void ChunkPipeline::drain() {
  while (!pending_.empty()) retire_oldest();
}

void ChunkPipeline::retire_oldest() {
  Job* job = pending_.front();
  if (depth_ > 0) {
    std::unique_lock lock(mutex_);
    filtered_.wait(lock, [&] { return job->done; });
  }
  pending_.pop_front();
  idle_.push_back(job);
  if (job->error) std::rethrow_exception(job->error);
  job->write(job->filtered);
}

void ChunkPipeline::filter_loop() {
  for (;;) {
    Job* job;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stop_ || !to_filter_.empty(); });
      if (stop_) return;
      job = to_filter_.front();
      to_filter_.pop_front();
    }
    try {
      job->filtered = job->deflater.filter(job->rows.data(), job->elements, job->element_bytes);
    } catch (...) {
      job->error = std::current_exception();
    }
    {
      std::lock_guard lock(mutex_);
      job->done = true;
    }
    filtered_.notify_one();
  }
}

}  // namespace servesim::h5
