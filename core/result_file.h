#pragma once
// Where a run's HDF5 file is written, so that no interruption loses or corrupts results:
// - the run writes a private working file beside the target (`.NAME.<pid>.tmp`);
// - `<target>.lock` (flock) is held for the whole run: a second writer of the same target gets
//   an OutputError naming the holder instead of both writing one file;
// - after each HDF5 flush the working file is copied to `<stem>.partial<ext>` and renamed into
//   place (atomic), so a run killed at any moment (kill -9 included) leaves a partial file that
//   opens and holds every row of its last snapshot;
// - the target is replaced only by commit() (rename), so a run that fails leaves the previous
//   results untouched (and removes its own working and partial files: its error says why).
#include <chrono>
#include <string>
#include <vector>

namespace servesim {

class ResultFile {
 public:
  // `inputs`: files the run reads (scenario, traces); a target equal to any of them is refused.
  // Throws OutputError (path, errno text, fix) when the target cannot be written.
  ResultFile(std::string target, const std::vector<std::string>& inputs, double min_snapshot_interval_s);
  ~ResultFile();  // without commit() (the run failed): removes the working and partial files; frees the lock
  ResultFile(const ResultFile&) = delete;
  ResultFile& operator=(const ResultFile&) = delete;

  const std::string& working_path() const { return working_; }
  const std::string& partial_path() const { return partial_; }
  const std::string& target() const { return target_; }

  // Call right after the working file was flushed: copies it to the partial file when due. Copies
  // are spaced so they cost at most ~10% of wall time (at least min_snapshot_interval_s apart).
  void snapshot();
  // Call after the working file is closed: it becomes the target; the partial goes away.
  void commit();

 private:
  void copy_to_partial();

  std::string target_, working_, partial_, lock_path_;
  int lock_fd_ = -1;
  bool committed_ = false;
  double min_interval_s_;
  double last_copy_cost_s_ = 0;
  std::chrono::steady_clock::time_point last_copy_{};
  bool copied_ = false;
};

}  // namespace servesim
