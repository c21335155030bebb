#include "core/hdf5_chunk_writer.h"

#include <stdexcept>

namespace servesim::h5 {

namespace {
// chunks queued at most before write() waits: enough to keep the helper busy, few enough that
// their copies stay small (a /requests chunk is under 1 MB)
constexpr size_t kMaxQueued = 4;
}  // namespace

ChunkWriter::ChunkWriter(Mode mode, int deflate_level)
    : mode_(mode), inline_deflater_(deflate_level), level_(deflate_level) {}

ChunkWriter::~ChunkWriter() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  job_queued_.notify_all();
  thread_.join();
}

void ChunkWriter::write(hid_t dataset, size_t first_row, const unsigned char* chunk, size_t elements,
                        size_t element_bytes) {
  if (mode_ == Mode::kInline || written_inline_ < kInlineChunks) {
    if (mode_ == Mode::kHelperThread) ++written_inline_;
    const std::span<const unsigned char> filtered = inline_deflater_.filter(chunk, elements, element_bytes);
    const hsize_t offset[1] = {first_row};
    if (H5Dwrite_chunk(dataset, H5P_DEFAULT, 0, offset, filtered.size(), filtered.data()) < 0)
      throw std::runtime_error("HDF5: H5Dwrite_chunk failed");
    return;
  }
  if (!thread_.joinable()) thread_ = std::thread([this] { helper(); });
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back({dataset, first_row, elements, element_bytes,
                     std::vector<unsigned char>(chunk, chunk + elements * element_bytes), {}, {}, false});
  }
  job_queued_.notify_one();
  write_done_jobs(kMaxQueued);
}

void ChunkWriter::drain() { write_done_jobs(0); }

void ChunkWriter::write_done_jobs(size_t keep_queued) {
  while (true) {
    std::unique_lock lock(mutex_);
    if (jobs_.empty()) return;
    if (!jobs_.front().done) {
      if (jobs_.size() <= keep_queued) return;
      job_done_.wait(lock, [&] { return jobs_.front().done; });
    }
    Job job = std::move(jobs_.front());  // the helper works only on jobs not done
    jobs_.pop_front();
    lock.unlock();
    if (!job.error.empty()) throw std::runtime_error(job.error);
    write_to_file(job);
  }
}

void ChunkWriter::write_to_file(const Job& job) const {
  const hsize_t offset[1] = {job.first_row};
  if (H5Dwrite_chunk(job.dataset, H5P_DEFAULT, 0, offset, job.filtered.size(), job.filtered.data()) < 0)
    throw std::runtime_error("HDF5: H5Dwrite_chunk failed");
}

void ChunkWriter::helper() {
  ChunkDeflater deflater(level_);
  std::unique_lock lock(mutex_);
  while (true) {
    Job* next = nullptr;
    job_queued_.wait(lock, [&] {
      for (Job& j : jobs_)
        if (!j.done) {
          next = &j;
          return true;
        }
      return stopping_;
    });
    if (!next) return;
    // a deque keeps its elements in place as others are added or the finished front is removed
    lock.unlock();
    std::vector<unsigned char> filtered;
    std::string error;
    try {
      const std::span<const unsigned char> out = deflater.filter(next->raw.data(), next->elements, next->element_bytes);
      filtered.assign(out.begin(), out.end());
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    next->filtered = std::move(filtered);
    next->error = std::move(error);
    next->done = true;
    job_done_.notify_all();
  }
}

}  // namespace servesim::h5
