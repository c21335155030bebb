#pragma once
// Runs sweep trials, each `servesim run` in its own process (SystemC cannot restart a
// simulation within one), up to `jobs` at a time, each with a wall-clock timeout. Every trial
// writes its run file into the sweep's trial folder; with resume, a trial whose file already
// holds a /summary is read back instead of run again.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "app/commands/sweep_space.h"

namespace servesim {

struct TrialRun {
  std::uint64_t id = 0;  // the point's id in the grid
  int replication = 0;
  std::uint64_t seed = 0;
  std::string status;  // ok | failed | timeout
  double wall_s = 0;
  Metrics metrics;
  std::string error;  // the trial's last output line when it did not succeed
  bool reused = false;  // read back from an earlier sweep's run file (--resume)
};

struct TrialJob {
  std::uint64_t id;
  int replication;
  std::uint64_t seed;
  std::vector<std::string> overrides;
  std::string scenario;  // "" = the runner's base scenario
};

class SweepRunner {
 public:
  SweepRunner(std::string binary, std::string base_scenario, std::vector<std::string> fixed_overrides,
              std::string trial_dir, int jobs, double timeout_s, bool resume);
  // Runs (or reuses) every job; results in job order. `progress(done, total)` after each one.
  std::vector<TrialRun> run(const std::vector<TrialJob>& jobs,
                            const std::function<void(size_t, size_t)>& progress = {});
  size_t ran() const { return ran_; }
  size_t reused() const { return reused_; }
  // Trial files found but not reused because their scenario differs from the job's (--resume).
  size_t stale() const { return stale_; }
  std::string run_file(std::uint64_t id, int replication) const;

 private:
  std::string binary_, base_;
  std::vector<std::string> fixed_;
  std::string dir_;
  int jobs_;
  double timeout_s_;
  bool resume_;
  bool reusable(const std::string& file, const TrialJob& job);
  size_t ran_ = 0, reused_ = 0, stale_ = 0;
};

// The path of the running servesim binary (trials run it again); throws if it cannot be found.
std::string servesim_binary();

// The /summary row of a run file, by metric name (empty if the file has none: unfinished).
Metrics read_summary(const std::string& path);

}  // namespace servesim
